from datetime import date

import pytest

from koolivarav.applications.models import Application
from koolivarav.applications.services import ApplicantData, ChildrenNotFound, submit_application
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)


def _data(*students, **changes):
    values = {
        "parent_id_code": PARENT,
        "first_name": "Mari",
        "last_name": "Maasikas",
        "email": "mari@example.ee",
        "phone": "+37255512345",
        "child_id_codes": tuple(s.id_code for s in students),
    }
    values.update(changes)
    return ApplicantData(**values)


def test_an_application_records_the_parent_and_the_matched_children(school):
    first, second = StudentFactory(school=school), StudentFactory(school=school)
    application = submit_application(school=school, data=_data(first, second), language="en")
    assert application.status == Application.Status.PENDING
    assert set(application.children.all()) == {first, second}
    assert (application.email, application.language) == ("mari@example.ee", "en")


def test_a_second_application_with_the_same_contact_data_adds_to_the_pending_one(school):
    first, second = StudentFactory(school=school), StudentFactory(school=school)
    submit_application(school=school, data=_data(first), language="et")
    submit_application(school=school, data=_data(second, first_name="Marie"), language="en")
    application = Application.objects.get()
    assert set(application.children.all()) == {first, second}
    # Nothing the first submission said is changed by a later one (see test_takeover.py).
    assert (application.first_name, application.language) == ("Mari", "et")


def test_the_same_parent_at_another_school_has_another_application(school, other_school):
    submit_application(school=school, data=_data(StudentFactory(school=school)), language="et")
    submit_application(
        school=other_school, data=_data(StudentFactory(school=other_school)), language="et"
    )
    assert Application.objects.count() == 2


def test_a_decided_application_does_not_absorb_a_new_one(school):
    student = StudentFactory(school=school)
    old = submit_application(school=school, data=_data(student), language="et")
    Application.objects.filter(pk=old.pk).update(status=Application.Status.REJECTED)
    new = submit_application(school=school, data=_data(student), language="et")
    assert new.pk != old.pk


def test_a_student_who_left_between_the_steps_stops_the_application(school):
    student = StudentFactory(school=school, is_active=False)
    with pytest.raises(ChildrenNotFound):
        submit_application(school=school, data=_data(student), language="et")
    assert Application.objects.count() == 0
