"""Nothing disappears without a trace (issue 14 item 7): a school's administrator deactivates
parents' accounts and marks students as no longer studying, never deletes them; each of these,
and every change of a parent's e-mail, children or role, is in the audit trail with before and
after."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.services import change_children, set_account_active
from koolivarav.accounts.tests.factories import PASSWORD, UserFactory, log_in_as_administrator
from koolivarav.accounts.tests.test_admin_takeover import audit, change_url, form_data
from koolivarav.conftest import host_of
from koolivarav.schools.models import Student
from koolivarav.schools.services import set_students_studying
from koolivarav.schools.tests.factories import StudentFactory

pytestmark = pytest.mark.django_db

USERS = reverse("admin:accounts_user_changelist")
STUDENTS = reverse("admin:schools_student_changelist")


@pytest.fixture
def operator_client(school, operator) -> Client:
    return log_in_as_administrator(Client(HTTP_HOST=host_of(school)), operator)


def _actions(client: Client, changelist: str) -> list[str]:
    form = client.get(changelist).context["action_form"]
    return [name for name, _label in form.fields["action"].choices if name]


# --- parents' accounts ------------------------------------------------------------------------


def test_a_school_administrator_cannot_delete_a_parent(admin_client_of_school, parent):
    assert "delete_selected" not in _actions(admin_client_of_school, USERS)
    delete_url = reverse("admin:accounts_user_delete", args=[parent.pk])
    assert admin_client_of_school.get(delete_url).status_code == 403
    assert admin_client_of_school.post(delete_url, {"post": "yes"}).status_code == 403
    admin_client_of_school.post(
        USERS, {"action": "delete_selected", "_selected_action": [parent.pk], "post": "yes"}
    )
    assert User.objects.filter(pk=parent.pk).exists()
    page = admin_client_of_school.get(change_url(parent)).content.decode()
    assert reverse("admin:accounts_user_delete", args=[parent.pk]) not in page


def test_an_operator_may_still_delete_an_account(operator_client, parent):
    delete_url = reverse("admin:accounts_user_delete", args=[parent.pk])
    assert operator_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=parent.pk).exists()


def test_deactivating_parents_is_recorded_and_they_can_no_longer_log_in(
    admin_client_of_school, school, school_admin, parent
):
    response = admin_client_of_school.post(
        USERS, {"action": "deactivate", "_selected_action": [parent.pk]}
    )
    assert response.status_code == 302
    parent.refresh_from_db()
    assert not parent.is_active
    [entry] = audit(AuditEntry.Action.DEACTIVATED)
    assert (entry.school, entry.actor, entry.target) == (school, school_admin, "Mari Maasikas")
    with translation.override(settings.LANGUAGE_CODE):  # the trail is in the site's language
        assert (entry.before, entry.after) == (str(_("active")), str(_("deactivated")))
    assert entry.reference == f"user:{parent.pk}"
    login = Client(HTTP_HOST=host_of(school)).post(
        "/", {"username": parent.email, "password": PASSWORD}
    )
    assert "_auth_user_id" not in login.wsgi_request.session


def test_activating_again_is_recorded_too(admin_client_of_school, parent):
    admin_client_of_school.post(USERS, {"action": "deactivate", "_selected_action": [parent.pk]})
    admin_client_of_school.post(USERS, {"action": "reactivate", "_selected_action": [parent.pk]})
    parent.refresh_from_db()
    assert parent.is_active
    assert len(audit(AuditEntry.Action.DEACTIVATED)) == 1
    assert len(audit(AuditEntry.Action.REACTIVATED)) == 1


def test_unticking_active_on_the_form_is_a_recorded_deactivation(admin_client_of_school, parent):
    response = admin_client_of_school.post(change_url(parent), form_data(parent, is_active=""))
    assert response.status_code == 302
    parent.refresh_from_db()
    assert not parent.is_active
    assert len(audit(AuditEntry.Action.DEACTIVATED)) == 1
    # Saving again as it is records nothing more.
    admin_client_of_school.post(change_url(parent), form_data(parent))
    assert len(audit(AuditEntry.Action.DEACTIVATED)) == 1


def test_an_administrator_cannot_deactivate_themselves(admin_client_of_school, school_admin):
    admin_client_of_school.post(
        USERS, {"action": "deactivate", "_selected_action": [school_admin.pk]}
    )
    school_admin.refresh_from_db()
    assert school_admin.is_active
    assert audit(AuditEntry.Action.DEACTIVATED) == []
    page = admin_client_of_school.get(change_url(school_admin)).content.decode()
    assert 'name="is_active"' not in page


def test_the_service_refuses_a_fellow_administrator(school, school_admin):
    from django.core.exceptions import PermissionDenied

    from koolivarav.accounts.tests.factories import SchoolAdminFactory

    colleague = SchoolAdminFactory(school=school)
    with pytest.raises(PermissionDenied):
        set_account_active(user=colleague, active=False, actor=school_admin)
    colleague.refresh_from_db()
    assert colleague.is_active


def test_a_change_of_children_is_recorded_with_before_and_after(
    admin_client_of_school, school, school_admin
):
    kart = StudentFactory(school=school, first_name="Kärt", last_name="Maasikas", class_name="3.b")
    juri = StudentFactory(school=school, first_name="Jüri", last_name="Maasikas", class_name="7.a")
    parent = UserFactory(school=school)
    parent.children.add(kart)
    response = admin_client_of_school.post(
        change_url(parent), form_data(parent, children=[juri.pk])
    )
    assert response.status_code == 302
    assert list(parent.children.all()) == [juri]
    [entry] = audit(AuditEntry.Action.CHILDREN_CHANGED)
    assert (entry.actor, entry.before, entry.after) == (
        school_admin,
        "Kärt Maasikas (3.b)",
        "Jüri Maasikas (7.a)",
    )
    # Saving again with the same children records nothing more.
    admin_client_of_school.post(change_url(parent), form_data(parent))
    assert len(audit(AuditEntry.Action.CHILDREN_CHANGED)) == 1


def test_taking_every_child_off_an_account_says_so(school, school_admin, parent):
    parent.children.add(StudentFactory(school=school, first_name="Kärt", class_name="3.b"))
    assert change_children(user=parent, children=[], actor=school_admin)
    [entry] = audit(AuditEntry.Action.CHILDREN_CHANGED)
    assert entry.after == "—"


def test_a_very_long_list_of_children_is_cut_not_refused(school, school_admin, parent):
    many = [StudentFactory(school=school, first_name="Hanna-Liisa") for _ in range(12)]
    assert change_children(user=parent, children=many, actor=school_admin)
    [entry] = audit(AuditEntry.Action.CHILDREN_CHANGED)
    assert len(entry.after) == 254
    assert entry.after.endswith("…")


def test_a_role_change_by_an_operator_is_recorded_with_before_and_after(
    operator_client, operator, parent
):
    response = operator_client.post(
        change_url(parent), form_data(parent, operator=True, role=User.Role.SCHOOL_ADMIN)
    )
    assert response.status_code == 302
    [entry] = audit(AuditEntry.Action.ROLE_CHANGED)
    assert (entry.actor, entry.before, entry.after) == (operator, "parent", "school_admin")


# --- students ----------------------------------------------------------------------------


def test_a_school_administrator_cannot_delete_a_student(admin_client_of_school, student):
    assert "delete_selected" not in _actions(admin_client_of_school, STUDENTS)
    delete_url = reverse("admin:schools_student_delete", args=[student.pk])
    assert admin_client_of_school.post(delete_url, {"post": "yes"}).status_code == 403
    admin_client_of_school.post(
        STUDENTS, {"action": "delete_selected", "_selected_action": [student.pk], "post": "yes"}
    )
    assert Student.objects.filter(pk=student.pk).exists()


def test_marking_students_as_not_studying_here_is_recorded(
    admin_client_of_school, school, school_admin
):
    leaving = StudentFactory(school=school, first_name="Kärt", last_name="Maasikas")
    staying = StudentFactory(school=school)
    response = admin_client_of_school.post(
        STUDENTS, {"action": "mark_not_studying", "_selected_action": [leaving.pk]}
    )
    assert response.status_code == 302
    leaving.refresh_from_db()
    staying.refresh_from_db()
    assert (leaving.is_active, staying.is_active) == (False, True)
    [entry] = audit(AuditEntry.Action.STUDENT_DEACTIVATED)
    assert (entry.school, entry.actor, entry.reference) == (
        school,
        school_admin,
        f"student:{leaving.pk}",
    )
    assert entry.target == str(leaving)
    assert entry.before != entry.after
    # Once more changes nothing and records nothing.
    admin_client_of_school.post(
        STUDENTS, {"action": "mark_not_studying", "_selected_action": [leaving.pk]}
    )
    assert len(audit(AuditEntry.Action.STUDENT_DEACTIVATED)) == 1


def test_a_student_back_at_the_school_is_recorded(school, school_admin):
    student = StudentFactory(school=school, is_active=False)
    assert set_students_studying(students=[student], studying=True, actor=school_admin) == 1
    assert len(audit(AuditEntry.Action.STUDENT_REACTIVATED)) == 1


def test_unticking_studies_here_on_the_form_is_recorded(admin_client_of_school, school, student):
    url = reverse("admin:schools_student_change", args=[student.pk])
    data = {
        "id_code": student.id_code,
        "first_name": student.first_name,
        "last_name": student.last_name,
        "class_name": student.class_name,
        "guardian_id_codes": "",
    }
    assert admin_client_of_school.post(url, data).status_code == 302
    student.refresh_from_db()
    assert not student.is_active
    assert len(audit(AuditEntry.Action.STUDENT_DEACTIVATED)) == 1


def test_another_schools_students_are_not_touched(admin_client_of_school, other_school):
    theirs = StudentFactory(school=other_school)
    admin_client_of_school.post(
        STUDENTS, {"action": "mark_not_studying", "_selected_action": [theirs.pk]}
    )
    theirs.refresh_from_db()
    assert theirs.is_active
    assert audit(AuditEntry.Action.STUDENT_DEACTIVATED) == []
