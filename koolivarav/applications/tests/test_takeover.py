"""Issue 16, item 1: nobody takes over a parent's pending application by knowing their ID code.

Every test here failed before the fix: a second submission with the same parent's ID code
replaced the pending application's e-mail address and phone, and the approval mailed the
temporary password to whoever sent it last.
"""

from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.applications.models import Application
from koolivarav.applications.services import (
    ANOTHER_APPLICATION,
    RECEIPT,
    ApplicantData,
    submit_application,
)
from koolivarav.applications.tests.receipts import confirm_address_of
from koolivarav.conftest import host_of
from koolivarav.notifications.models import Email
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

START = reverse("applications:start")
CONFIRM = reverse("applications:confirm")
CHANGELIST = reverse("admin:applications_application_changelist")
PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
PARENT_EMAIL = "mari.maasikas@example.ee"
STRANGER_EMAIL = "kaabakas@example.net"


def _apply(client, children, *, email, phone="5551 2345", first_name="Mari"):
    step1 = {
        "child_id_codes": " ".join(c.id_code for c in children),
        "parent_id_code": PARENT,
        "first_name": first_name,
        "last_name": "Maasikas",
        "email": email,
        "phone": phone,
    }
    assert client.post(START, step1).status_code == 302
    assert client.post(CONFIRM, {"email_again": email}).status_code == 302
    # Each confirms their own address (a stranger can do that too: the review decides).
    confirm_address_of(Application.objects.get(email=email), client)


def _data(*children, email=PARENT_EMAIL, phone="+37255512345"):
    return ApplicantData(
        parent_id_code=PARENT,
        first_name="Mari",
        last_name="Maasikas",
        email=email,
        phone=phone,
        child_id_codes=tuple(c.id_code for c in children),
    )


@pytest.fixture
def stranger(school):
    return Client(HTTP_HOST=host_of(school))


def test_a_stranger_with_the_parents_code_cannot_change_the_pending_application(
    school, school_client, stranger
):
    child, any_child = StudentFactory(school=school), StudentFactory(school=school)
    _apply(school_client, [child], email=PARENT_EMAIL)
    original = Application.objects.get()

    _apply(stranger, [any_child], email=STRANGER_EMAIL, phone="5559 9999", first_name="Kaarel")

    original.refresh_from_db()
    assert (original.email, original.phone, original.first_name) == (
        PARENT_EMAIL,
        "+37255512345",
        "Mari",
    )
    assert list(original.children.all()) == [child]
    other = Application.objects.exclude(pk=original.pk).get()
    assert (other.email, other.status) == (STRANGER_EMAIL, Application.Status.PENDING)
    assert list(other.children.all()) == [any_child]


def test_the_original_address_is_told_without_the_strangers_data(school, school_client, stranger):
    _apply(school_client, [StudentFactory(school=school)], email=PARENT_EMAIL)
    _apply(stranger, [StudentFactory(school=school)], email=STRANGER_EMAIL, phone="5559 9999")

    notice = Email.objects.get(kind=ANOTHER_APPLICATION)
    assert notice.to_address == PARENT_EMAIL
    assert STRANGER_EMAIL not in str(notice.context)
    assert not Email.objects.filter(to_address=STRANGER_EMAIL, kind=ANOTHER_APPLICATION).exists()


def test_the_notice_goes_at_most_once_a_day(school):
    child = StudentFactory(school=school)
    submit_application(school=school, data=_data(child), language="et")
    for n in range(4):
        submit_application(
            school=school, data=_data(child, email=f"muu{n}@example.net"), language="et"
        )
    assert Email.objects.filter(kind=ANOTHER_APPLICATION, to_address=PARENT_EMAIL).count() == 1
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        submit_application(
            school=school, data=_data(child, email="veel@example.net"), language="et"
        )
    assert Email.objects.filter(kind=ANOTHER_APPLICATION, to_address=PARENT_EMAIL).count() == 2


def test_the_same_contact_data_adds_children_to_the_same_application(school):
    first, second = StudentFactory(school=school), StudentFactory(school=school)
    submit_application(school=school, data=_data(first), language="et")
    submit_application(school=school, data=_data(second, email=PARENT_EMAIL.upper()), language="et")
    application = Application.objects.get()
    assert set(application.children.all()) == {first, second}
    assert not Email.objects.filter(kind=ANOTHER_APPLICATION).exists()


@pytest.mark.parametrize(
    "changes", [{"email": STRANGER_EMAIL}, {"phone": "+37255599999"}], ids=["e-mail", "phone"]
)
def test_other_contact_data_makes_an_application_of_its_own(school, changes):
    child = StudentFactory(school=school)
    submit_application(school=school, data=_data(child), language="et")
    submit_application(school=school, data=_data(child, **changes), language="en")
    first, second = Application.objects.order_by("created_at", "pk")
    assert (first.email, first.phone, first.language) == (PARENT_EMAIL, "+37255512345", "et")
    assert second.language == "en"


def test_the_review_shows_both_side_by_side_and_bulk_approval_skips_them(
    school, school_admin, school_client, stranger
):
    _apply(school_client, [StudentFactory(school=school)], email=PARENT_EMAIL)
    _apply(stranger, [StudentFactory(school=school)], email=STRANGER_EMAIL, phone="5559 9999")
    original = Application.objects.get(email=PARENT_EMAIL)
    admin = log_in_as_administrator(
        Client(HTTP_HOST=host_of(school), HTTP_ACCEPT_LANGUAGE="en"), school_admin
    )

    queue = admin.get(CHANGELIST).content.decode()
    assert queue.count("another application with this parent&#x27;s ID code") == 2

    page = admin.get(reverse("admin:applications_application_change", args=[original.pk]))
    text = page.content.decode()
    assert "Someone else may be applying in this parent" in text
    assert STRANGER_EMAIL in text
    assert PARENT_EMAIL in text

    response = admin.post(
        CHANGELIST,
        {
            "action": "approve_selected",
            "_selected_action": list(Application.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )
    assert "2 applications were not approved" in response.content.decode()
    assert Application.objects.filter(status=Application.Status.PENDING).count() == 2
    assert not User.objects.filter(role=User.Role.PARENT).exists()


def test_approving_the_strangers_application_after_the_parents_mails_only_the_parent(
    school, school_admin, school_client, stranger
):
    _apply(school_client, [StudentFactory(school=school)], email=PARENT_EMAIL)
    _apply(stranger, [StudentFactory(school=school)], email=STRANGER_EMAIL, phone="5559 9999")
    admin = log_in_as_administrator(Client(HTTP_HOST=host_of(school)), school_admin)
    for email in (PARENT_EMAIL, STRANGER_EMAIL):
        pk = Application.objects.get(email=email).pk
        admin.post(reverse("admin:applications_application_approve", args=[pk]))

    assert User.objects.get(id_code=PARENT).email == PARENT_EMAIL
    assert not Email.objects.filter(to_address=STRANGER_EMAIL).exclude(kind=RECEIPT).exists()
