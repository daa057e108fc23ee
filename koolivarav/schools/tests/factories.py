from datetime import date

import factory

from koolivarav.schools.demo import make_id_code
from koolivarav.schools.models import School, SchoolHost, Student


class SchoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = School
        django_get_or_create = ("short_name",)
        skip_postgeneration_save = True

    name = "Jõgeva Põhikool"
    short_name = "jpk"
    portal_url = factory.LazyAttribute(lambda o: f"https://{o.short_name}.example.ee/")
    sender_email = "robot@ope.ee"
    host = factory.RelatedFactory(
        "koolivarav.schools.tests.factories.SchoolHostFactory",
        factory_related_name="school",
        hostname=factory.LazyAttribute(lambda o: f"{o.factory_parent.short_name}.example.ee"),
    )


class SchoolHostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SchoolHost

    school = factory.SubFactory(SchoolFactory)
    hostname = factory.Sequence(lambda n: f"host{n}.example.ee")


class StudentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Student

    school = factory.SubFactory(SchoolFactory)
    id_code = factory.Sequence(
        lambda n: make_id_code(
            birth=date(2012, 1 + n % 12, 1 + n % 28), female=n % 2 == 1, serial=n
        )
    )
    first_name = factory.Iterator(["Kärt", "Jüri", "Õnne", "Märt"])
    last_name = factory.Iterator(["Maasikas", "Tamm", "Põder", "Šmidt"])
    class_name = "7.b"
