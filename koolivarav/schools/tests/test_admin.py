import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from koolivarav.accounts.tests.factories import SchoolAdminFactory, log_in_as_administrator
from koolivarav.accounts.tests.worker import run_queued_tasks
from koolivarav.schools.demo import generate_students
from koolivarav.schools.models import Student, StudentImport
from koolivarav.schools.tests.factories import StudentFactory

CHANGELIST = reverse("admin:schools_student_changelist")


def test_a_school_admin_sees_only_their_own_schools_students(
    admin_client_of_school, school, other_school
):
    own = StudentFactory(school=school, last_name="Omakooli")
    StudentFactory(school=other_school, last_name="Teisekooli")
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    assert own.last_name in page
    assert "Teisekooli" not in page


def test_another_schools_student_is_not_found_by_id(admin_client_of_school, other_school):
    theirs = StudentFactory(school=other_school)
    url = reverse("admin:schools_student_change", args=[theirs.pk])
    assert admin_client_of_school.get(url).status_code == 302  # "does not exist" → back to list
    # A school's administrator deletes no student at all (item 7 of issue 14), theirs least.
    assert (
        admin_client_of_school.post(
            reverse("admin:schools_student_delete", args=[theirs.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Student.objects.filter(pk=theirs.pk).exists()


def test_the_search_does_not_reach_another_school(admin_client_of_school, other_school):
    theirs = StudentFactory(school=other_school, last_name="Otsitav")
    page = admin_client_of_school.get(CHANGELIST, {"q": theirs.id_code}).content.decode()
    assert "Otsitav" not in page


def test_full_id_codes_are_not_shown_in_the_list(admin_client_of_school, school):
    student = StudentFactory(school=school)
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    assert student.id_code not in page
    assert student.id_code[:7] in page


def test_a_school_admin_cannot_use_another_schools_portal(school, other_school):
    admin = SchoolAdminFactory(school=school)
    client = Client(HTTP_HOST=other_school.hosts.first().hostname)
    log_in_as_administrator(client, admin)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_parent_cannot_open_the_admin(school_client, parent):
    school_client.force_login(parent)
    assert school_client.get(CHANGELIST).status_code == 302


def test_an_operator_sees_every_school(operator, school, other_school):
    StudentFactory(school=school, last_name="Esimene")
    StudentFactory(school=other_school, last_name="Teine")
    client = Client(HTTP_HOST="jpk.example.ee")
    log_in_as_administrator(client, operator)
    page = client.get(CHANGELIST).content.decode()
    assert "Esimene" in page
    assert "Teine" in page


def test_a_student_added_by_a_school_admin_belongs_to_their_school(
    admin_client_of_school, school, other_school
):
    code = next(generate_students(1))["id_code"]
    response = admin_client_of_school.post(
        reverse("admin:schools_student_add"),
        {
            "id_code": code,
            "first_name": "Uus",
            "last_name": "Õpilane",
            "class_name": "1.a",
            "is_active": "on",
            "guardian_id_codes": "",
            "school": other_school.pk,  # ignored: the field is not on the form
        },
    )
    assert response.status_code == 302
    assert Student.objects.get(id_code=code).school == school


def _add_student(client, **changes):
    data = {
        "id_code": next(generate_students(1, seed=9))["id_code"],
        "first_name": "Uus",
        "last_name": "Õpilane",
        "class_name": "1.a",
        "is_active": "on",
        "guardian_id_codes": "",
        **changes,
    }
    return client.post(reverse("admin:schools_student_add"), data)


def test_a_student_already_on_the_list_is_refused_next_to_the_code(admin_client_of_school, school):
    existing = StudentFactory(school=school)
    response = _add_student(admin_client_of_school, id_code=existing.id_code)
    assert response.status_code == 200  # the form again, not a server error
    errors = response.context["adminform"].form.errors
    assert errors["id_code"] == ["Selle isikukoodiga õpilane on juba kooli nimekirjas."]
    assert Student.objects.filter(id_code=existing.id_code).count() == 1


def test_the_same_code_may_be_on_another_schools_list(admin_client_of_school, other_school):
    theirs = StudentFactory(school=other_school)
    assert _add_student(admin_client_of_school, id_code=theirs.id_code).status_code == 302


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "Jüri\x1b[31m"),
        ("last_name", "<script>"),
        ("last_name", "Robert'); DROP TABLE"),
        ("class_name", "7.b\x00"),
        ("class_name", "7.b\u202e"),
        ("first_name", "   "),
    ],
)
def test_a_students_name_and_class_follow_the_rules_of_the_import(
    admin_client_of_school, field, value
):
    response = _add_student(admin_client_of_school, **{field: value})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Student.objects.count() == 0


def test_names_are_tidied_as_on_import(admin_client_of_school):
    _add_student(admin_client_of_school, first_name="  Mari   Liis ", class_name=" 7.b ")
    student = Student.objects.get()
    assert (student.first_name, student.class_name) == ("Mari Liis", "7.b")


def _csv(rows):
    lines = ["isikukood,eesnimi,perekonnanimi,klass"]
    lines += [f"{r['id_code']},{r['first_name']},{r['last_name']},{r['class_name']}" for r in rows]
    return ("\n".join(lines) + "\n").encode()


def _upload(client, rows, **fields):
    upload = SimpleUploadedFile("list.csv", _csv(rows), "text/csv")
    return client.post(reverse("admin:schools_student_import"), {"import_file": upload, **fields})


def test_the_admin_import_is_done_by_the_worker_into_the_admins_school(
    admin_client_of_school, school, school_admin
):
    admin_client_of_school.cookies["django_language"] = "en"  # the texts below, in English
    rows = list(generate_students(4, seed=3))
    response = _upload(admin_client_of_school, rows)
    student_import = StudentImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:schools_student_import_status", args=[student_import.pk]
    )
    assert (student_import.school, student_import.uploaded_by) == (school, school_admin)
    assert Student.objects.count() == 0  # the request only kept the file
    page = admin_client_of_school.get(response["Location"]).content.decode()
    assert "Waiting for the worker to start…" in page
    run_queued_tasks(deliver=False)
    assert Student.objects.filter(school=school).count() == 4
    page = admin_client_of_school.get(response["Location"]).content.decode()
    assert "Imported 4 rows: 4 new, 0 updated." in page


def test_the_admin_import_names_the_bad_row_and_writes_nothing(admin_client_of_school):
    admin_client_of_school.cookies["django_language"] = "en"  # the texts below, in English
    rows = list(generate_students(4, seed=3))
    rows[2]["id_code"] = "39001010008"
    response = _upload(admin_client_of_school, rows)
    run_queued_tasks(deliver=False)
    page = admin_client_of_school.get(response["Location"]).content.decode()
    assert "Nothing was imported: 1 problem." in page
    assert re.search(r"<td>3</td>\s*<td>[^<]*39001010008", page)
    assert "import_now" not in page
    assert Student.objects.count() == 0


def test_a_file_only_checked_is_imported_from_its_page(admin_client_of_school, school):
    admin_client_of_school.cookies["django_language"] = "en"  # the texts below, in English
    rows = list(generate_students(3, seed=3))
    response = _upload(admin_client_of_school, rows, check_only="on")
    run_queued_tasks(deliver=False)
    page = admin_client_of_school.get(response["Location"]).content.decode()
    assert "The file is right: 3 rows, 3 new and 0 to update. Nothing is imported yet." in page
    assert Student.objects.count() == 0
    assert admin_client_of_school.post(response["Location"], {"import_now": "1"}).status_code == 302
    run_queued_tasks(deliver=False)
    assert Student.objects.filter(school=school).count() == 3
    assert bytes(StudentImport.objects.get().data) == b""


def test_another_schools_import_is_not_shown(admin_client_of_school, other_school):
    theirs = StudentImport.objects.create(school=other_school, file_name="tamme.csv", data=b"x")
    url = reverse("admin:schools_student_import_status", args=[theirs.pk])
    assert admin_client_of_school.get(url).status_code == 404
    progress = reverse("admin:schools_student_import_progress", args=[theirs.pk])
    assert admin_client_of_school.get(progress).status_code == 404
