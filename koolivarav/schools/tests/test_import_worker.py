"""Big imports show progress (issue 14 item 8): the admin's upload keeps the file and queues the
import; the worker checks every row, saying how far it is, and saves all rows or none."""

import csv
import io
import threading
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from koolivarav.accounts.tests.worker import run_queued_tasks
from koolivarav.schools.demo import generate_students
from koolivarav.schools.models import Student, StudentImport
from koolivarav.schools.services import (
    ListChanged,
    check_students,
    end_stalled_imports,
    import_checked_file,
    purge_old_student_imports,
    queue_student_import,
    read_student_data,
    run_student_import,
    save_checked,
)
from koolivarav.schools.tests.factories import StudentFactory

IMPORT = reverse("admin:schools_student_import")
State = StudentImport.State


def _csv(count: int, *, seed: int = 11) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["isikukood", "eesnimi", "perekonnanimi", "klass"])
    for row in generate_students(count, seed=seed):
        writer.writerow([row["id_code"], row["first_name"], row["last_name"], row["class_name"]])
    return out.getvalue().encode()


def _upload(client, content: bytes, name: str = "nimekiri.csv"):
    return client.post(IMPORT, {"import_file": SimpleUploadedFile(name, content, "text/csv")})


@pytest.mark.django_db
def test_the_upload_page_opens(admin_client_of_school):
    response = admin_client_of_school.get(IMPORT)
    assert response.status_code == 200
    assert b'name="import_file"' in response.content


@pytest.mark.django_db
def test_the_worker_imports_a_queued_file_once(school):
    student_import = queue_student_import(
        school=school, uploaded_by=None, file_name="a.csv", data=_csv(3)
    )
    assert run_student_import(import_id=student_import.pk) == State.IMPORTED
    # A task delivered twice: the second run finds the import taken.
    assert run_student_import(import_id=student_import.pk) is None
    student_import.refresh_from_db()
    assert (student_import.total_rows, student_import.rows_checked, student_import.new) == (3, 3, 3)
    assert student_import.finished_at is not None
    assert Student.objects.count() == 3


@pytest.mark.django_db
def test_a_file_the_worker_cannot_read_is_refused_with_the_reason(school):
    student_import = queue_student_import(
        school=school,
        uploaded_by=None,
        file_name="a.xlsx",
        data=b"not a spreadsheet",
        language="en",
    )
    assert run_student_import(import_id=student_import.pk) == State.REFUSED
    student_import.refresh_from_db()
    [problem] = student_import.problems
    assert problem["row"] == 0
    assert "could not be read as xlsx" in problem["message"]


@pytest.mark.django_db
def test_a_student_added_between_the_check_and_the_save_leaves_the_list_as_it_was(school):
    dataset = read_student_data(name="a.csv", data=_csv(5))
    checked = check_students(school=school, dataset=dataset)
    assert checked.report.problems == []
    StudentFactory(school=school, id_code=dataset[3][0])  # someone added one of them meanwhile
    with pytest.raises(ListChanged):
        save_checked(checked)
    assert Student.objects.count() == 1


@pytest.mark.django_db
def test_a_student_deleted_between_the_check_and_the_save_leaves_the_list_as_it_was(school):
    content = _csv(4)
    dataset = read_student_data(name="a.csv", data=content)
    existing = [StudentFactory(school=school, id_code=row[0], class_name="1.a") for row in dataset]
    checked = check_students(school=school, dataset=dataset)
    assert checked.report.updated == 4
    existing[0].delete()
    with pytest.raises(ListChanged):
        save_checked(checked)
    assert set(Student.objects.values_list("class_name", flat=True)) == {"1.a"}


@pytest.mark.django_db
def test_a_file_checked_only_keeps_its_data_until_imported(school):
    student_import = queue_student_import(
        school=school, uploaded_by=None, file_name="a.csv", data=_csv(2), check_only=True
    )
    assert run_student_import(import_id=student_import.pk) == State.CHECKED
    assert Student.objects.count() == 0
    assert import_checked_file(student_import=student_import)
    assert not import_checked_file(student_import=student_import)  # a double click: once
    run_queued_tasks(deliver=False)
    student_import.refresh_from_db()
    assert student_import.state == State.IMPORTED
    assert Student.objects.count() == 2


@pytest.mark.django_db
def test_imports_that_ended_long_ago_are_deleted(school):
    old = queue_student_import(school=school, uploaded_by=None, file_name="a.csv", data=_csv(1))
    new = queue_student_import(school=school, uploaded_by=None, file_name="b.csv", data=_csv(1))
    StudentImport.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=31))
    StudentImport.objects.filter(pk=new.pk).update(finished_at=timezone.now() - timedelta(days=29))
    assert purge_old_student_imports() == 1
    assert list(StudentImport.objects.values_list("pk", flat=True)) == [new.pk]


STALLED = (
    "The import stopped before it ended: the worker was interrupted. Nothing was saved. "
    "Upload the file again."
)


def _began(school, state, minutes_ago, *, language="et"):
    """An import a worker took and left in `state`, its last step `minutes_ago`."""
    student_import = queue_student_import(
        school=school, uploaded_by=None, file_name="a.csv", data=_csv(3), language=language
    )
    then = timezone.now() - timedelta(minutes=minutes_ago)
    StudentImport.objects.filter(pk=student_import.pk).update(
        state=state, total_rows=3, rows_checked=1, progress_at=then, created_at=then
    )
    return student_import


@pytest.mark.django_db
@pytest.mark.parametrize("state", [State.READING, State.CHECKING, State.SAVING])
def test_an_import_its_worker_left_mid_way_ends_as_failed_on_its_page(
    admin_client_of_school, school, state
):
    stalled = _began(school, state, 16)
    status = reverse("admin:schools_student_import_status", args=[stalled.pk])
    page = admin_client_of_school.get(status).content.decode()
    stalled.refresh_from_db()
    assert (stalled.state, stalled.problem_count, bytes(stalled.data)) == (State.FAILED, 1, b"")
    assert stalled.finished_at is not None
    with translation.override("et"):
        told = translation.gettext(STALLED)
    assert told != STALLED  # in the uploader's language (Estonian)
    assert stalled.problems[0]["message"] == told
    assert told in page
    progress = reverse("admin:schools_student_import_progress", args=[stalled.pk])
    assert admin_client_of_school.get(progress).json()["running"] is False


@pytest.mark.django_db
def test_an_import_still_moving_or_waiting_for_a_worker_is_left_alone(school):
    moving = _began(school, State.CHECKING, 5)
    waiting = queue_student_import(school=school, uploaded_by=None, file_name="b.csv", data=b"x")
    StudentImport.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - timedelta(hours=3)
    )
    assert end_stalled_imports() == 0
    assert dict(StudentImport.objects.values_list("pk", "state")) == {
        moving.pk: State.CHECKING,
        waiting.pk: State.QUEUED,
    }


@pytest.mark.django_db
def test_stalled_imports_are_ended_in_their_uploaders_language_by_housekeeping(school):
    from koolivarav.operations.services import run_housekeeping

    in_russian = _began(school, State.CHECKING, 60, language="ru")
    assert run_housekeeping()["stalled student list imports ended"] == 1
    in_russian.refresh_from_db()
    assert in_russian.state == State.FAILED
    with translation.override("ru"):
        assert in_russian.problems[0]["message"] == translation.gettext(STALLED) != STALLED
    assert end_stalled_imports() == 0  # once


@pytest.mark.django_db
def test_a_worker_that_moves_on_keeps_its_import(school):
    """The worker writes its progress time with every step: a slow but living one is not
    mistaken for a dead one."""
    student_import = _began(school, State.QUEUED, 60)
    assert run_student_import(import_id=student_import.pk) == State.IMPORTED
    student_import.refresh_from_db()
    assert student_import.progress_at > timezone.now() - timedelta(minutes=1)
    assert end_stalled_imports() == 0


@pytest.mark.django_db(transaction=True)
def test_the_page_shows_how_far_the_worker_is_while_it_runs(admin_client_of_school, school):
    """The worker in a thread of its own (its own database connection); the page's progress
    address, read meanwhile as the page's script reads it, counts up to every row."""
    response = _upload(admin_client_of_school, _csv(6000))
    student_import = StudentImport.objects.get()
    progress_url = reverse("admin:schools_student_import_progress", args=[student_import.pk])
    assert response["Location"] == reverse(
        "admin:schools_student_import_status", args=[student_import.pk]
    )

    def work() -> None:
        try:
            run_student_import(import_id=student_import.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    seen = []
    while worker.is_alive():
        progress = admin_client_of_school.get(progress_url).json()
        seen.append((progress["state"], progress["checked"], progress["total"]))
        time.sleep(0.05)
    worker.join()
    final = admin_client_of_school.get(progress_url).json()

    checking = [checked for state, checked, total in seen if state == "checking"]
    assert any(0 < checked < 6000 for checked in checking), seen  # part of the way
    assert checking == sorted(checking)  # never backwards
    assert {total for state, _checked, total in seen if state == "checking"} == {6000}
    assert (final["running"], final["state"], final["checked"]) == (False, "imported", 6000)
    assert Student.objects.filter(school=school).count() == 6000


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_list_of_100000_rows_gets_an_answer_at_once_and_is_imported_by_the_worker(
    admin_client_of_school, school, settings
):
    settings.STUDENT_FILE_MAX_ROWS = 100_000
    content = _csv(100_000, seed=12)
    assert len(content) > 3_000_000
    started = time.monotonic()
    response = _upload(admin_client_of_school, content)
    answered = time.monotonic() - started
    assert response.status_code == 302
    # Far inside any proxy's timeout (nginx here waits 35 s, deploy/nginx.conf).
    assert answered < 5, f"the upload took {answered:.1f} s"
    page = admin_client_of_school.get(response["Location"]).content.decode()
    assert "Waiting for the worker to start" in page or "Ootab" in page

    started = time.monotonic()
    run_queued_tasks(deliver=False)
    worked = time.monotonic() - started
    student_import = StudentImport.objects.get()
    assert student_import.state == State.IMPORTED, student_import.problems[:3]
    assert (student_import.total_rows, student_import.rows_checked) == (100_000, 100_000)
    assert Student.objects.filter(school=school).count() == 100_000
    assert bytes(student_import.data) == b""
    print(f"\n100,000 rows: upload answered in {answered:.2f} s, worker took {worked:.1f} s")


@pytest.mark.slow
@pytest.mark.django_db
def test_one_bad_row_among_100000_writes_nothing_and_is_named(school, settings):
    settings.STUDENT_FILE_MAX_ROWS = 100_000
    lines = _csv(100_000, seed=13).decode().splitlines()
    lines[77_777] = lines[77_777].rsplit(",", 1)[0] + ",7.b\x07"  # row 77777: a bad class
    student_import = queue_student_import(
        school=school, uploaded_by=None, file_name="a.csv", data="\n".join(lines).encode()
    )
    assert run_student_import(import_id=student_import.pk) == State.REFUSED
    student_import.refresh_from_db()
    assert student_import.problem_count == 1
    assert student_import.problems[0]["row"] == 77_777
    assert Student.objects.count() == 0
