"""What a verified identity changes: the application, the school's records deciding, the review,
the administrators' way in, and HarID through the same code."""

import html

import pytest
from django.test import Client
from django.utils import translation

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.tests.factories import SchoolAdminFactory, UserFactory
from koolivarav.applications.models import Application
from koolivarav.applications.selectors import review_queue
from koolivarav.applications.verified import VERIFIED_KEY
from koolivarav.conftest import host_of
from koolivarav.notifications.models import Email
from koolivarav.schools.tests.factories import StudentFactory

from .conftest import ADMIN_CODE, PARENT_CODE, STRANGER_CODE, through_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def children(school):
    return [
        StudentFactory(school=school, guardian_id_codes=[PARENT_CODE]),
        StudentFactory(school=school, guardian_id_codes=[PARENT_CODE, STRANGER_CODE]),
    ]


@pytest.fixture
def unlisted_child(school):
    return StudentFactory(school=school, guardian_id_codes=[STRANGER_CODE])


def apply(visitor: Client, codes: list[str], **typed: str):
    """Steps 1 and 2 of the application, as the parent fills them in."""
    data = {
        "child_id_codes": " ".join(codes),
        "email": "mari@example.ee",
        "phone": "5123 4567",
        "parent_id_code": "39001010008",  # what someone types: a verified form ignores it
        "first_name": "Keegi",
        "last_name": "Teine",
        **typed,
    }
    step1 = visitor.post("/apply/", data)
    assert step1.status_code == 302, step1.context["form"].errors if step1.context else step1
    return visitor.post("/apply/confirm/", {"email_again": data["email"]})


def test_no_account_leads_to_the_application_with_the_identity_filled_in(visitor, tara, school):
    response = through_provider(visitor)
    assert response["Location"] == "/apply/"
    page = visitor.get("/apply/").content.decode()
    assert f'value="{PARENT_CODE}"' in page
    assert 'value="Mari-Liis"' in page
    assert page.count("disabled") >= 3
    assert "Smart-ID" in page


def test_a_verified_application_keeps_the_providers_code_and_names(
    visitor, tara, school, children, settings
):
    school.hold_unconfirmed_applications = False
    school.save()
    through_provider(visitor, purpose="apply")
    apply(visitor, [children[0].id_code])
    application = Application.objects.get()
    assert application.parent_id_code == PARENT_CODE
    assert (application.first_name, application.last_name) == ("Mari-Liis", "Maasikas")
    assert application.identity_method == "smartid"
    assert application.identity_verified_at is not None
    assert application.listed_as_guardian
    assert application.status == Application.Status.PENDING  # default: first in the queue
    assert VERIFIED_KEY not in visitor.session


def test_a_typed_application_is_never_verified_nor_listed(visitor, school, children):
    apply(visitor, [c.id_code for c in children], parent_id_code=PARENT_CODE)
    application = Application.objects.get()
    assert not application.is_verified
    assert not application.listed_as_guardian


def test_known_guardian_first_in_the_queue_with_its_mark(
    visitor, tara, school, children, unlisted_child
):
    school.hold_unconfirmed_applications = False
    school.save()
    other = Client(HTTP_HOST=host_of(school))
    apply(other, [unlisted_child.id_code], parent_id_code=STRANGER_CODE, email="j@example.ee")
    through_provider(visitor, purpose="apply")
    apply(visitor, [c.id_code for c in children])
    queue = list(review_queue(Application.objects.filter(school=school)))
    assert queue[0].parent_id_code == PARENT_CODE
    assert queue[0].listed_as_guardian
    assert not queue[1].listed_as_guardian


def test_one_child_the_records_do_not_link_keeps_it_in_the_queue_unmarked(
    visitor, tara, school, children, unlisted_child
):
    school.known_guardians = "approve"
    school.save()
    through_provider(visitor, purpose="apply")
    apply(visitor, [children[0].id_code, unlisted_child.id_code])
    application = Application.objects.get()
    assert application.is_verified
    assert not application.listed_as_guardian
    assert application.status == Application.Status.PENDING
    assert not User.objects.filter(id_code=PARENT_CODE).exists()


def test_records_approve_at_once_and_log_the_parent_in(visitor, tara, school, children):
    school.known_guardians = "approve"
    school.save()  # the school also holds unconfirmed addresses: no password goes there
    through_provider(visitor, purpose="apply")
    response = apply(visitor, [c.id_code for c in children])
    assert response["Location"] == "/"
    application = Application.objects.get()
    assert application.status == Application.Status.APPROVED
    assert application.decided_by is None
    user = application.account
    assert user.id_code == PARENT_CODE
    assert set(user.children.all()) == set(children)
    assert not user.has_usable_password()
    assert not user.must_change_password
    assert visitor.session["_auth_user_id"] == str(user.pk)
    page = visitor.get("/").content.decode()
    for child in children:
        assert child.first_name in page
    with translation.override("et"):
        told = translation.gettext(
            "The school's records list you as the guardian of the children: log in with "
            "ID-card, Mobile-ID or Smart-ID."
        )
    # The parent's applications, on the home page.
    assert told in " ".join(html.unescape(page).split())
    # No temporary password by e-mail; the audit trail says the records decided.
    assert not Email.objects.filter(kind="accounts.login_details").exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.APPROVED)
    assert entry.actor is None
    assert "Smart-ID" in entry.details


def test_an_unverified_application_never_approves_itself(visitor, school, children):
    school.known_guardians = "approve"
    school.hold_unconfirmed_applications = False
    school.save()
    apply(visitor, [c.id_code for c in children], parent_id_code=PARENT_CODE)
    assert Application.objects.get().status == Application.Status.PENDING
    assert not User.objects.filter(id_code=PARENT_CODE).exists()
    assert "_auth_user_id" not in visitor.session


def test_records_approval_adds_children_to_an_existing_account(visitor, tara, school, children):
    school.known_guardians = "approve"
    school.save()
    parent = UserFactory(school=school, id_code=PARENT_CODE, email="mari@example.ee")
    through_provider(visitor, purpose="apply")
    apply(visitor, [c.id_code for c in children])
    assert set(parent.children.all()) == set(children)
    assert visitor.session["_auth_user_id"] == str(parent.pk)


def test_the_review_shows_how_and_when_the_identity_was_verified(
    visitor, tara, school, children, admin_client_of_school
):
    school.hold_unconfirmed_applications = False
    school.save()
    through_provider(visitor, purpose="apply")
    apply(visitor, [children[0].id_code])
    application = Application.objects.get()
    page = admin_client_of_school.get(
        f"/admin/applications/application/{application.pk}/change/"
    ).content.decode()
    assert "Smart-ID" in page
    assert application.identity_verified_at.astimezone().strftime("%d.%m.%Y") in page
    listing = admin_client_of_school.get("/admin/applications/application/").content.decode()
    assert "Smart-ID" in listing


# --- Administrators ---------------------------------------------------------------------------


@pytest.fixture
def tara_admin(school):
    return SchoolAdminFactory(school=school, id_code=ADMIN_CODE)


def test_an_administrator_reaches_the_admin_through_tara_without_a_code(
    visitor, tara, school, tara_admin
):
    tara.auto_choice = (ADMIN_CODE, "idcard")
    response = through_provider(visitor, purpose="admin")
    assert response["Location"] == "/admin/"
    assert visitor.get("/admin/").status_code == 200


def test_tara_at_a_low_level_does_not_stand_in_for_the_code(visitor, tara, school, tara_admin):
    school.tara_level = "low"
    school.save()
    tara.auto_choice = (ADMIN_CODE, "idcard")
    tara.claims_override = {"acr": "low"}
    through_provider(visitor, purpose="admin")
    assert visitor.get("/admin/")["Location"].startswith("/admin/login/")


def test_a_parent_cannot_enter_the_admin_through_tara(visitor, tara, school):
    UserFactory(school=school, id_code=PARENT_CODE)
    response = through_provider(visitor, purpose="admin")
    assert response["Location"] == "/admin/login/"
    assert "_auth_user_id" not in visitor.session


def test_a_school_that_requires_tara_refuses_the_password(
    tara, school, tara_admin, password, settings
):
    school.admins_require_tara = True
    school.save()
    visitor = Client(HTTP_HOST=host_of(school))
    page = visitor.get("/admin/login/").content.decode()
    assert "/identity/tara/start/" in page
    visitor.post("/admin/login/?next=/admin/", {"username": tara_admin.email, "password": password})
    # Password right, but at this school that is not the way in: logged out again, told why.
    page = visitor.get("/admin/", follow=True)
    assert page.redirect_chain[-1][0].startswith("/admin/login/")
    assert "_auth_user_id" not in visitor.session
    assert "Smart-ID" in page.content.decode()
    from koolivarav.accounts.tests.factories import log_in_as_administrator

    log_in_as_administrator(visitor, tara_admin)  # password and an app's code: still no
    assert visitor.get("/admin/").status_code == 302
    tara.auto_choice = (ADMIN_CODE, "smartid")
    visitor.post("/logout/")
    through_provider(visitor, purpose="admin")
    assert visitor.get("/admin/").status_code == 200


# --- HarID ------------------------------------------------------------------------------------


def test_harid_logs_a_parent_in_through_the_same_code(visitor, harid, school):
    school.harid_login = True
    school.save()
    parent = UserFactory(school=school, id_code=PARENT_CODE)
    page = visitor.get("/").content.decode()
    assert "/identity/harid/start/" in page
    through_provider(visitor, provider="harid")
    assert visitor.session["_auth_user_id"] == str(parent.pk)
    # HarID is not two factors for the admin.
    assert "verified_second_factor" not in visitor.session


def test_harid_is_off_unless_the_school_turns_it_on(visitor, harid, school):
    assert "/identity/harid/start/" not in visitor.get("/").content.decode()
    assert visitor.post("/identity/harid/start/").status_code == 404


def test_harid_without_a_personal_code_is_refused(visitor, harid, school):
    school.harid_login = True
    school.save()
    harid.claims_override = {"personal_code": None}
    through_provider(visitor, provider="harid")
    assert "_auth_user_id" not in visitor.session
    assert VERIFIED_KEY not in visitor.session


def test_the_records_never_revive_a_deactivated_account(visitor, tara, school, children):
    school.known_guardians = "approve"
    school.save()
    UserFactory(school=school, id_code=PARENT_CODE, email="mari@example.ee", is_active=False)
    through_provider(visitor, purpose="apply")
    apply(visitor, [c.id_code for c in children])
    application = Application.objects.get()
    assert application.status == Application.Status.PENDING  # for the school to look at
    assert application.listed_as_guardian
    assert "_auth_user_id" not in visitor.session
