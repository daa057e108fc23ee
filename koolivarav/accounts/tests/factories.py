import factory

from koolivarav.accounts.models import User
from koolivarav.schools.tests.factories import SchoolFactory

PASSWORD = "Kaheksa-märki-vähemalt"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    school = factory.SubFactory(SchoolFactory)
    email = factory.Sequence(lambda n: f"lapsevanem{n}@example.ee")
    first_name = "Mari"
    last_name = "Maasikas"
    role = User.Role.PARENT
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class SchoolAdminFactory(UserFactory):
    email = factory.Sequence(lambda n: f"admin{n}@kool.example.ee")
    first_name = "Kooli"
    last_name = "Administraator"
    role = User.Role.SCHOOL_ADMIN
    is_staff = True


class OperatorFactory(UserFactory):
    school = None
    email = factory.Sequence(lambda n: f"operator{n}@koolivarav.example")
    first_name = "Operaator"
    last_name = "Koolivärav"
    role = User.Role.OPERATOR
    is_staff = True
    is_superuser = True
