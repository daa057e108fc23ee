"""The outbox in the admin: a failed e-mail's error, correcting its address, sending it again."""

import pytest
from django.contrib.admin.models import LogEntry
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koolivarav.notifications import preparers
from koolivarav.notifications.addresses import is_deliverable_email
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import deliver_due_emails, queue_email

INJECTING = "=?utf-8?q?a=0D=0ABcc=3A_x=40y=2Eexample?=@example.ee"
CHANGELIST = reverse("admin:notifications_email_changelist")


def _change_url(email):
    return reverse("admin:notifications_email_change", args=[email.pk])


def _failed(school, to=INJECTING, kind="applications.rejected"):
    """An e-mail the worker tried and gave up on."""
    with transaction.atomic():
        email = queue_email(
            school=school,
            to=to,
            kind=kind,
            template="applications/email/new_application",
            context={"review_url": "https://jpk.example.ee/admin/"},
        )
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.FAILED, attempts=1, last_error="building the message: ValueError"
    )
    email.refresh_from_db()
    return email


def test_the_list_shows_an_email_the_worker_gave_up_on_with_its_error(
    admin_client_of_school, school, smtp_server
):
    with transaction.atomic():
        queue_email(
            school=school,
            to=INJECTING,
            kind="test",
            template="applications/email/new_application",
            context={"review_url": "https://jpk.example.ee/admin/"},
        )
    deliver_due_emails()
    page = admin_client_of_school.get(CHANGELIST + "?status__exact=failed").content.decode()
    assert "building the message: ValueError" in page


def test_an_administrator_corrects_a_failed_emails_address_and_sends_it_again(
    admin_client_of_school, school, school_admin, smtp_server
):
    email = _failed(school)
    form = admin_client_of_school.get(_change_url(email)).content.decode()
    assert 'name="to_address"' in form
    response = admin_client_of_school.post(
        _change_url(email), {"to_address": "mari.maasikas@example.ee", "_save": "Save"}
    )
    assert response.status_code == 302
    email.refresh_from_db()
    assert (email.status, email.to_address) == (Email.Status.FAILED, "mari.maasikas@example.ee")
    (entry,) = LogEntry.objects.filter(object_id=str(email.pk))
    assert entry.user == school_admin
    assert "@" not in entry.object_repr  # the admin's history names no address

    admin_client_of_school.post(CHANGELIST, {"action": "retry", "_selected_action": [email.pk]})
    deliver_due_emails()
    assert [m["To"] for m in smtp_server.messages] == ["mari.maasikas@example.ee"]
    email.refresh_from_db()
    assert email.status == Email.Status.SENT


@pytest.mark.parametrize("address", [INJECTING, "mari@faß.de", "not an address"])
def test_a_correction_the_mailer_cannot_use_is_refused_next_to_the_field(
    admin_client_of_school, school, address
):
    email = _failed(school, to="vana@example.ee")
    response = admin_client_of_school.post(
        _change_url(email), {"to_address": address, "_save": "Save"}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors.as_data()["to_address"]
    assert len(errors) == 1  # one message, not Django's and ours
    email.refresh_from_db()
    assert email.to_address == "vana@example.ee"


@pytest.mark.parametrize("status", [Email.Status.QUEUED, Email.Status.SENDING, Email.Status.SENT])
def test_only_a_failed_email_can_be_corrected(admin_client_of_school, school, status):
    email = _failed(school, to="vana@example.ee")
    Email.objects.filter(pk=email.pk).update(status=status)
    assert (
        'name="to_address"' not in admin_client_of_school.get(_change_url(email)).content.decode()
    )
    response = admin_client_of_school.post(
        _change_url(email), {"to_address": "uus@example.ee", "_save": "Save"}
    )
    assert response.status_code == 403
    email.refresh_from_db()
    assert email.to_address == "vana@example.ee"


def test_an_email_made_for_an_account_at_sending_time_is_not_redirected(
    admin_client_of_school, school, monkeypatch
):
    # A temporary password or a reset link goes where the account says, never elsewhere.
    monkeypatch.setitem(preparers._preparers, "test.secret", lambda email: preparers.Prepared())
    email = _failed(school, to="vana@example.ee", kind="test.secret")
    page = admin_client_of_school.get(_change_url(email)).content.decode()
    assert 'name="to_address"' not in page
    response = admin_client_of_school.post(
        _change_url(email), {"to_address": "uus@example.ee", "_save": "Save"}
    )
    assert response.status_code == 403
    email.refresh_from_db()
    assert email.to_address == "vana@example.ee"


@pytest.mark.parametrize(
    "kind", ["accounts.email_changed", "accounts.role_changed", "accounts.second_factor_reset"]
)
def test_a_notice_about_an_account_is_not_redirected(admin_client_of_school, school, kind):
    # It tells the account's old address that something changed: redirecting it defeats it.
    email = _failed(school, to="vana@example.ee", kind=kind)
    response = admin_client_of_school.post(
        _change_url(email), {"to_address": "uus@example.ee", "_save": "Save"}
    )
    assert response.status_code == 403
    email.refresh_from_db()
    assert email.to_address == "vana@example.ee"


def test_another_schools_failed_email_cannot_be_corrected(admin_client_of_school, other_school):
    theirs = _failed(other_school, to="vana@example.ee")
    response = admin_client_of_school.post(
        _change_url(theirs), {"to_address": "uus@example.ee", "_save": "Save"}
    )
    assert response.status_code == 302  # "does not exist": back to the admin
    theirs.refresh_from_db()
    assert theirs.to_address == "vana@example.ee"


def test_nobody_adds_or_deletes_emails_in_the_admin(admin_client_of_school, school):
    email = _failed(school)
    assert admin_client_of_school.get(reverse("admin:notifications_email_add")).status_code == 403
    admin_client_of_school.post(
        reverse("admin:notifications_email_delete", args=[email.pk]), {"post": "yes"}
    )
    assert Email.objects.filter(pk=email.pk).exists()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    typed=st.one_of(
        st.text(max_size=80),
        st.emails(),
        st.builds(
            lambda local, tail: f"{local}@{tail}", st.text(max_size=20), st.text(max_size=20)
        ),
    )
)
def test_whatever_is_typed_as_the_correction_no_500_and_only_a_deliverable_address_is_kept(
    admin_client_of_school, school, typed
):
    email = _failed(school, to="vana@example.ee")
    response = admin_client_of_school.post(_change_url(email), {"to_address": typed, "_save": "1"})
    assert response.status_code in {200, 302}
    email.refresh_from_db()
    assert email.to_address == "vana@example.ee" or is_deliverable_email(email.to_address)
    assert (response.status_code == 302) == (email.to_address != "vana@example.ee") or (
        typed.strip() == "vana@example.ee"
    )
