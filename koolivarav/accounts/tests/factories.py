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


def totp_code(device, offset: int = 0) -> str:
    """The code an authenticator app would show now (offset: that many 30-second steps on)."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


def log_in_as_administrator(client, user):
    """Logs an administrator in the way the admin demands: password and authenticator app."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
