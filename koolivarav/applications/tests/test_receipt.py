"""The receipt, the confirmed address and the status page (issue 13 items 1, 2 and 7)."""

import re
from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.services import record
from koolivarav.accounts.tests.factories import UserFactory, log_in_as_administrator
from koolivarav.applications.models import Application
from koolivarav.applications.services import (
    RECEIPT,
    AddressNotConfirmed,
    ApplicantData,
    approve_application,
    confirm_address,
    purge_unconfirmed_applications,
    receive_application,
    reject_application,
    status_token,
)
from koolivarav.conftest import host_of
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import SchoolFactory, StudentFactory

START = reverse("applications:start")
CONFIRM = reverse("applications:confirm")
SUBMITTED = reverse("applications:submitted")
STATUS = reverse("applications:status")
RESEND = reverse("applications:status_resend")
QUEUE = reverse("admin:applications_application_changelist")
PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)
EMAIL = "mari.maasikas@example.ee"


@pytest.fixture
def children(school):
    return [
        StudentFactory(school=school, first_name="Juku", last_name="Maasikas"),
        StudentFactory(school=school, first_name="Mai", last_name="Maasikas"),
    ]


def _apply(client, children, email=EMAIL, **changes):
    step1 = {
        "child_id_codes": " ".join(c.id_code for c in children),
        "parent_id_code": PARENT,
        "first_name": "Mari",
        "last_name": "Maasikas",
        "email": email,
        "phone": "5551 2345",
        **changes,
    }
    response = client.post(START, step1)
    assert response.status_code == 302, response.context["form"].errors
    return client.post(CONFIRM, {"email_again": email})


def _data(children, email=EMAIL):
    return ApplicantData(
        parent_id_code=PARENT,
        first_name="Mari",
        last_name="Maasikas",
        email=email,
        phone="+37255512345",
        child_id_codes=tuple(c.id_code for c in children),
    )


def _link(message) -> str:
    body = message.get_body(("plain",)).get_content()
    [link] = re.findall(r"https://jpk\.example\.ee(/apply/status/\?t=\S+)", body)
    return link


def _answer(response) -> str:
    """The page without its per-response CSRF token."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", _page(response))


def _receipts():
    return Email.objects.filter(kind=RECEIPT)


def _page(response) -> str:
    return response.content.decode()


# --- the receipt ------------------------------------------------------------------------------


def test_applying_sends_a_receipt_with_the_parents_name_and_the_number_of_children_only(
    school, school_client, children, smtp_server
):
    _apply(school_client, children)
    deliver_due_emails()

    [message] = smtp_server.messages
    assert message["To"] == EMAIL
    assert message["From"] == "Jõgeva Põhikool <robot@ope.ee>"
    body = message.get_body(("plain",)).get_content()
    assert "Mari Maasikas" in body
    assert re.search(r"\b2\b", body)
    for child in children:  # whoever typed the codes may not be the parent
        assert child.first_name not in body
        assert child.id_code not in body
    assert PARENT not in body
    link = _link(message)
    assert not re.search(r"\d{11}", link)  # no ID code in the link
    # The outbox keeps no working link: the token is signed when the e-mail is sent.
    assert "t=" not in str(Email.objects.get().context)


def test_the_receipt_goes_in_the_language_of_the_application(school, children):
    client = Client(HTTP_HOST=host_of(school), HTTP_ACCEPT_LANGUAGE="en")
    _apply(client, children)
    assert _receipts().get().language == "en"


def test_sending_step_2_again_after_back_or_applying_again_sends_no_second_receipt(
    school, school_client, children
):
    _apply(school_client, children)
    school_client.get(START)  # Back, and the same again
    _apply(school_client, children)
    _apply(Client(HTTP_HOST=host_of(school)), children[:1])  # applying again in another browser
    assert Application.objects.count() == 1
    assert _receipts().count() == 1

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        _apply(school_client, children)
    assert _receipts().count() == 2


def test_two_submissions_at_the_same_moment_send_one_receipt(school, children):
    # The conditional UPDATE decides: of two, the second finds the time already set.
    first = receive_application(school=school, data=_data(children), language="et")
    second = receive_application(school=school, data=_data(children), language="et")
    assert first.pk == second.pk
    assert _receipts().count() == 1


def test_other_contact_data_is_an_application_of_its_own_with_its_own_receipt(
    school, school_client, children
):
    _apply(school_client, children)
    _apply(Client(HTTP_HOST=host_of(school)), children, email="keegi.muu@example.ee")
    assert Application.objects.count() == 2
    assert sorted(_receipts().values_list("to_address", flat=True)) == [
        "keegi.muu@example.ee",
        EMAIL,
    ]


def test_the_submitted_page_says_where_the_link_went_masked(school_client, children):
    response = _apply(school_client, children, email="mari@example.ee")
    page = _page(school_client.get(response["Location"]))
    assert "✔" in page
    assert "m•••@example.ee" in page
    assert "mari@example.ee" not in page
    assert "spam" in page.lower() or "rämpsposti" in page


# --- held back until confirmed ----------------------------------------------------------------


def test_a_held_back_application_stays_out_of_the_queue_and_its_notice_until_confirmed(
    school, school_admin, school_client, children
):
    _apply(school_client, children)
    application = Application.objects.get()
    assert application.is_held_back
    admin = log_in_as_administrator(
        Client(HTTP_HOST=host_of(school), HTTP_ACCEPT_LANGUAGE="en"), school_admin
    )
    change = reverse("admin:applications_application_change", args=[application.pk])
    assert change not in _page(admin.get(QUEUE))
    assert change in _page(admin.get(QUEUE, {"address": "unconfirmed"}))
    assert not Email.objects.filter(to_address=school_admin.email).exists()

    response = admin.post(
        reverse("admin:applications_application_approve", args=[application.pk]), follow=True
    )
    assert "has not confirmed the e-mail address yet" in _page(response)
    assert Application.objects.get().status == Application.Status.PENDING
    assert not User.objects.filter(role=User.Role.PARENT).exists()

    school_client.post(STATUS, {"t": status_token(application)})

    assert change in _page(admin.get(QUEUE))
    assert Email.objects.filter(
        to_address=school_admin.email, kind="applications.new_application"
    ).exists()
    admin.post(reverse("admin:applications_application_approve", args=[application.pk]))
    assert Application.objects.get().status == Application.Status.APPROVED


def test_approving_a_held_back_application_is_refused(school, school_admin, children):
    application = receive_application(school=school, data=_data(children), language="et")
    with pytest.raises(AddressNotConfirmed):
        approve_application(application_id=application.pk, decided_by=school_admin)
    assert not User.objects.filter(role=User.Role.PARENT).exists()


def test_a_school_that_does_not_hold_back_sees_the_application_at_once(
    school, school_admin, children
):
    school.hold_unconfirmed_applications = False
    school.save()
    application = receive_application(school=school, data=_data(children), language="et")
    assert not application.is_held_back
    assert _receipts().count() == 1
    assert Email.objects.filter(to_address=school_admin.email).count() == 1
    approve_application(application_id=application.pk, decided_by=school_admin)


def test_confirming_twice_tells_the_administrators_once(school, school_admin, children):
    application = receive_application(school=school, data=_data(children), language="et")
    assert confirm_address(application_id=application.pk)
    assert not confirm_address(application_id=application.pk)
    assert Email.objects.filter(to_address=school_admin.email).count() == 1


def test_a_held_back_application_is_no_rival_to_the_parents_own(school, children):
    own = receive_application(school=school, data=_data(children), language="et")
    confirm_address(application_id=own.pk)
    receive_application(school=school, data=_data(children, email="typo@example.ee"), language="et")
    from koolivarav.applications.selectors import conflicting_applications

    assert conflicting_applications(own) == []


def test_unconfirmed_applications_go_after_the_days_with_anonymous_audit_stubs(
    school, school_admin, children, settings
):
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "UNCONFIRMED_APPLICATION_DAYS": 7}
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        old = receive_application(school=school, data=_data(children), language="et")
        record(
            school=school,
            actor=school_admin,
            action=AuditEntry.Action.REJECTED,
            target=str(old),
            details="Mari Maasikas",
            reference=old.reference,
        )
        confirmed = receive_application(
            school=school, data=_data(children, email="kinnitas@example.ee"), language="et"
        )
        confirm_address(application_id=confirmed.pk)
    recent = receive_application(
        school=school, data=_data(children, email="uus@example.ee"), language="et"
    )

    assert purge_unconfirmed_applications() == 1
    assert set(Application.objects.values_list("pk", flat=True)) == {confirmed.pk, recent.pk}
    stub = AuditEntry.objects.get(action=AuditEntry.Action.REJECTED)
    assert "Maasikas" not in f"{stub.target} {stub.details}"
    assert purge_unconfirmed_applications() == 0


def test_housekeeping_counts_the_unconfirmed_applications(school, children):
    from koolivarav.operations.services import run_housekeeping

    with time_machine.travel(timezone.now() - timedelta(days=30)):
        receive_application(school=school, data=_data(children), language="et")
    assert run_housekeeping()["unconfirmed applications"] == 1


# --- the status page --------------------------------------------------------------------------


def test_the_link_from_the_receipt_shows_the_state_and_opening_it_confirms_nothing(
    school, school_client, children, smtp_server
):
    _apply(school_client, children)
    deliver_due_emails()
    link = _link(smtp_server.messages[0])

    reader = Client(HTTP_HOST=host_of(school))  # the mail app, or a mail scanner
    page = _page(reader.get(link))
    assert "m•••@example.ee" in page
    assert "Jah, see on minu meiliaadress" in page  # docs/terms.md: e-mail → meiliaadress
    assert Application.objects.get().email_confirmed_at is None  # a GET confirms nothing


def test_the_status_page_through_waiting_approved_and_rejected(
    school, school_admin, children, smtp_server
):
    client = Client(HTTP_HOST=host_of(school), HTTP_ACCEPT_LANGUAGE="en")
    _apply(client, children)
    application = Application.objects.get()
    token = status_token(application)
    url = f"{STATUS}?t={token}"

    page = _page(client.get(url))
    assert "not confirmed yet" in page
    response = client.post(STATUS, {"t": token})
    assert response["Location"] == url
    page = _page(client.get(url))
    assert "Thank you: your e-mail address is confirmed." in page
    assert "confirmed on" in page
    assert "Waiting for the school's decision since" in page
    assert "Yes, this is my e-mail address" not in page

    approve_application(application_id=application.pk, decided_by=school_admin)
    assert "on their way to m•••@example.ee" in _page(client.get(url))
    with time_machine.travel(
        timezone.make_aware(timezone.datetime(2026, 12, 1, 10, 42)), tick=False
    ):
        deliver_due_emails()
    page = _page(client.get(url))
    assert "sent on 01.12.2026 at 10:42 to m•••@example.ee" in page
    assert "spam folder" in page
    assert reverse("accounts:password_reset") in page

    other = receive_application(
        school=school, data=_data(children, email="teine@example.ee"), language="en"
    )
    confirm_address(application_id=other.pk)
    reject_application(application_id=other.pk, decided_by=school_admin, reason="Vale laps.")
    page = _page(client.get(f"{STATUS}?t={status_token(other)}"))
    assert "Not approved on" in page
    assert "Vale laps." in page
    assert "How to reach the school" in page
    assert f"Please contact {school.name}." in page  # no contact details set
    # With contact details: once, in the page, and not once more in the footer.
    school.office_email = "kantselei@jpk.example.ee"
    school.save()
    page = _page(client.get(f"{STATUS}?t={status_token(other)}"))
    assert page.count(">kantselei@jpk.example.ee<") == 1


def test_the_status_page_names_no_child_and_shows_no_id_code(school, school_client, children):
    _apply(school_client, children)
    page = _page(school_client.get(f"{STATUS}?t={status_token(Application.objects.get())}"))
    for child in children:
        assert child.first_name not in page
    assert not re.search(r"\d{11}", page)
    assert EMAIL not in page


def test_an_application_added_to_an_existing_account_says_so(school, school_admin, children):
    UserFactory(school=school, id_code=PARENT, email=EMAIL)
    application = receive_application(school=school, data=_data(children), language="en")
    confirm_address(application_id=application.pk)
    approve_application(application_id=application.pk, decided_by=school_admin)
    client = Client(HTTP_HOST=host_of(school), HTTP_ACCEPT_LANGUAGE="en")
    page = _page(client.get(f"{STATUS}?t={status_token(application)}"))
    assert "added to the account you already have" in page


def test_an_expired_link_says_so_and_sends_a_new_one_to_the_stored_address(
    school, school_client, children
):
    _apply(school_client, children)
    application = Application.objects.get()
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        token = status_token(application)
    client = Client(HTTP_HOST=host_of(school), HTTP_ACCEPT_LANGUAGE="en")

    response = client.get(f"{STATUS}?t={token}")
    assert response.status_code == 200
    assert "The link has expired" in _page(response)
    assert client.post(STATUS, {"t": token}).status_code == 200  # the button: expired too
    assert Application.objects.get().email_confirmed_at is None

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        sent = client.post(RESEND, {"t": token, "email": "attacker@example.ee"})
        nothing = client.post(RESEND, {"t": token[:-2] + "xx"})
    assert sent.status_code == nothing.status_code == 200
    assert _answer(sent) == _answer(nothing)  # the same whatever the link names
    assert "m•••" not in _page(sent)
    assert list(_receipts().values_list("to_address", flat=True)) == [EMAIL, EMAIL]


def test_the_new_link_form_is_rate_limited(school, school_client, children, settings):
    settings.KOOLIVARAV = {
        **settings.KOOLIVARAV,
        "RATE_LIMITS": {
            **settings.KOOLIVARAV["RATE_LIMITS"],
            "application_form_per_address": (2, 3600),
        },
    }
    answers = [school_client.post(RESEND, {"t": "x"}).status_code for _ in range(3)]
    assert answers == [200, 200, 429]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
        lambda t: "OTk5" + t[t.index(":") :],  # another application's number
        lambda t: "",
        lambda t: "x" * 5000,
        lambda t: "ä:ö:ü",
    ],
)
def test_a_tampered_link_is_refused_without_details(school, school_client, children, tamper):
    _apply(school_client, children)
    token = tamper(status_token(Application.objects.get()))
    for response in (
        school_client.get(STATUS, {"t": token}),
        school_client.post(STATUS, {"t": token}),
    ):
        assert response.status_code == 404
        assert "m•••" not in _page(response)
    assert Application.objects.get().email_confirmed_at is None


def test_another_schools_link_is_refused(school, other_school, children):
    application = receive_application(school=school, data=_data(children), language="et")
    other = Client(HTTP_HOST=host_of(other_school))
    assert other.get(STATUS, {"t": status_token(application)}).status_code == 404


# --- the parent's home ------------------------------------------------------------------------


def test_a_logged_in_parent_sees_their_later_applications_on_the_home_page(
    school, school_admin, children, password
):
    parent = UserFactory(school=school, id_code=PARENT, email=EMAIL)
    later = receive_application(school=school, data=_data(children[:1]), language="en")
    someone_else = SchoolFactory(name="Tartu Tamme Gümnaasium", short_name="tamme")
    receive_application(
        school=someone_else,
        data=_data([StudentFactory(school=someone_else)]),
        language="en",
    )
    client = Client(HTTP_HOST=host_of(school), HTTP_ACCEPT_LANGUAGE="en")
    client.post("/", {"username": parent.email, "password": password})

    page = _page(client.get("/"))
    assert "My applications" in page
    assert page.count("for 1 child") == 1
    assert "not confirmed yet" in page
    assert status_token(later) not in page
    assert not re.search(r"\d{11}", page)


def test_a_parent_without_applications_sees_no_applications_section(school, parent, password):
    client = Client(HTTP_HOST=host_of(school), HTTP_ACCEPT_LANGUAGE="en")
    client.post("/", {"username": parent.email, "password": password})
    assert "My applications" not in _page(client.get("/"))
