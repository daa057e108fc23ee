"""State changes of schools and students."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import tablib
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from import_export.formats.base_formats import TablibFormat
from import_export.results import Result

from .models import School, Student, StudentImport
from .resources import CheckingStudentResource
from .signals import students_activity_changed
from .spreadsheets import StudentCSV, StudentXLSX, check_file_size

logger = logging.getLogger(__name__)

IMPORT_FORMATS: dict[str, type[TablibFormat]] = {".csv": StudentCSV, ".xlsx": StudentXLSX}


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1 = the first row under the header
    message: str


@dataclass(frozen=True)
class ImportReport:
    total_rows: int
    new: int
    updated: int
    unchanged: int
    problems: list[RowProblem]

    @property
    def written(self) -> bool:
        return not self.problems


def read_student_file(*, path: Path) -> tablib.Dataset:
    """Read a CSV (UTF-8, with or without a byte-order mark) or XLSX file into a dataset."""
    # The same limits as an upload in the admin: size, unpacked size and rows.
    check_file_size(path.stat().st_size)
    return read_student_data(name=path.name, data=path.read_bytes())


def import_format_of(name: str) -> type[TablibFormat]:
    """The reader for a file of this name (.csv or .xlsx), or a ValidationError."""
    suffix = Path(name).suffix.lower()
    input_format = IMPORT_FORMATS.get(suffix)
    if input_format is None:
        raise ValidationError(
            _("Unsupported file type %(suffix)s: use a .csv or .xlsx file."),
            code="unsupported_format",
            params={"suffix": suffix or "?"},
        )
    return input_format


def read_student_data(*, name: str, data: bytes) -> tablib.Dataset:
    """The rows of a student list file's content, within the limits (spreadsheets.py)."""
    fmt = import_format_of(name)(encoding="utf-8-sig")
    check_file_size(len(data))
    try:
        if fmt.is_binary():
            return fmt.create_dataset(data)
        return fmt.create_dataset(data.decode("utf-8-sig"))
    except ValidationError:
        raise
    except Exception as exc:  # a damaged or foreign file can fail in any of the readers' ways
        raise ValidationError(
            _("The file could not be read as %(format)s: %(error)s"),
            code="unreadable_file",
            params={"format": fmt.get_title(), "error": exc.__class__.__name__},
        ) from exc


def _column_label(field: str) -> str:
    try:
        return str(getattr(Student._meta.get_field(field), "verbose_name", field))
    except FieldDoesNotExist:  # "__all__"
        return ""


def _problems_of(result: Result) -> list[RowProblem]:
    problems = [RowProblem(row=0, message=str(error.error)) for error in result.base_errors]
    for invalid in result.invalid_rows:
        for field, messages in invalid.error_dict.items():
            label = _column_label(field)
            for message in messages:
                text = f"{label}: {message}" if label else str(message)
                problems.append(RowProblem(row=invalid.number, message=text))
    for row_number, errors in result.row_errors():
        for error in errors:
            problems.append(RowProblem(row=row_number, message=str(error.error)))
    return sorted(problems, key=lambda p: p.row)


class ListChanged(Exception):
    """The school's list changed between checking a file and saving it (another import, or an
    edit in the admin): nothing was saved, and importing the file again settles it."""


@dataclass
class CheckedList:
    """A file's rows, checked against the school's list: what an import would write."""

    report: ImportReport
    resource: CheckingStudentResource


def check_students(
    *, school: School, dataset: tablib.Dataset, on_progress: Callable[[int], None] | None = None
) -> CheckedList:
    """Check every row of the dataset against the school's list, writing nothing.

    Runs outside any transaction: `on_progress(rows)` may write how far it is, and others
    see it at once."""
    resource = CheckingStudentResource(school=school, on_progress=on_progress)
    result = resource.check(dataset)
    totals = result.totals
    return CheckedList(
        report=ImportReport(
            total_rows=result.total_rows,
            new=totals.get("new", 0),
            updated=totals.get("update", 0),
            unchanged=totals.get("skip", 0),
            problems=_problems_of(result),
        ),
        resource=resource,
    )


SAVE_BATCH = 2000


def save_checked(checked: CheckedList) -> None:
    """Write a checked list: every row in one transaction, or none (ListChanged)."""
    resource = checked.resource
    now = timezone.now()
    try:
        with transaction.atomic():
            Student.objects.bulk_create(resource.to_create, batch_size=SAVE_BATCH)
            if resource.to_update:
                for student in resource.to_update:
                    student.updated_at = now
                fields = [*resource.get_bulk_update_fields(), "updated_at"]
                matched = Student.objects.bulk_update(
                    resource.to_update, fields, batch_size=SAVE_BATCH
                )
                if matched != len(resource.to_update):
                    raise ListChanged  # a student of the file was deleted meanwhile
    except IntegrityError as error:  # a student of the file was added meanwhile
        raise ListChanged from error


def import_students(
    *, school: School, dataset: tablib.Dataset, dry_run: bool = False
) -> ImportReport:
    """Add or update the school's students from a dataset: every row, or none of them.

    A student already on the school's list (same ID code) is updated. When any row is
    invalid, nothing is written and the report names each bad row and what is wrong with it.
    """
    checked = check_students(school=school, dataset=dataset)
    if checked.report.problems or dry_run:
        return checked.report
    try:
        save_checked(checked)
    except ListChanged:
        return _list_changed(checked.report)
    return checked.report


def _list_changed(report: ImportReport) -> ImportReport:
    message = _(
        "The school's list changed while the file was being checked, so nothing was "
        "imported. Import the file again."
    )
    return replace(report, problems=[RowProblem(row=0, message=message)])


# --- the admin's import, run by the worker -------------------------------------------------

# The problems an import keeps for its page; the rest are counted.
KEPT_PROBLEMS = 1000
# Imports are kept this long after they end (their problems name ID codes), then deleted.
IMPORT_RECORD_DAYS = 30


def queue_student_import(
    *,
    school: School,
    uploaded_by: Any,
    file_name: str,
    data: bytes,
    check_only: bool = False,
    language: str = "et",
) -> StudentImport:
    """Keep an uploaded list and queue its import for the worker (run_student_import).

    The request does no more than this, so that a file of any length gets an answer at once
    and no proxy's timeout cuts an import short."""
    import_format_of(file_name)  # an unsupported type is refused here, not by the worker
    with transaction.atomic():
        student_import = StudentImport.objects.create(
            school=school,
            uploaded_by=uploaded_by,
            file_name=file_name[:255],
            data=data,
            check_only=check_only,
            language=language,
        )
        _queue(student_import.pk)
    return student_import


def _queue(import_id: int) -> None:
    from .tasks import import_students_task

    # In the same transaction: the task's row (django-tasks' database backend) is written
    # with the import's, or neither is.
    import_students_task.enqueue(import_id=import_id)


def import_checked_file(*, student_import: StudentImport) -> bool:
    """Import a file that was only checked: queued again, to be checked again (the list may
    have changed since) and saved. False when it is not a checked file (any more)."""
    with transaction.atomic():
        queued = StudentImport.objects.filter(
            pk=student_import.pk, state=StudentImport.State.CHECKED
        ).update(state=StudentImport.State.QUEUED, check_only=False, rows_checked=0)
        if queued:
            _queue(student_import.pk)
    return bool(queued)


def _update(import_id: int, **fields: Any) -> None:
    StudentImport.objects.filter(pk=import_id).update(progress_at=timezone.now(), **fields)


def _finish(import_id: int, state: str, problems: list[RowProblem], **fields: Any) -> None:
    _update(
        import_id,
        state=state,
        problem_count=len(problems),
        problems=[{"row": p.row, "message": p.message} for p in problems[:KEPT_PROBLEMS]],
        finished_at=timezone.now(),
        **fields,
    )


def run_student_import(*, import_id: int) -> str | None:
    """The worker's half of an admin's import: read, check (with progress), save all or
    nothing. Returns the state it ended in, or None when another run had taken it.

    Each step's state is committed as it happens, so the admin's page can show it. The file
    is wiped when the import ends, unless it was only checked and may be imported next."""
    State = StudentImport.State
    # A conditional UPDATE: a task delivered twice runs the import once.
    if not StudentImport.objects.filter(pk=import_id, state=State.QUEUED).update(
        state=State.READING, progress_at=timezone.now()
    ):
        return None
    student_import = StudentImport.objects.select_related("school").get(pk=import_id)
    with translation.override(student_import.language):
        try:
            return _run(student_import)
        except Exception:
            # Whatever broke, the page must not wait for ever: it says so, and nothing was
            # saved (the save is one transaction). The error goes to the log (and Sentry).
            logger.exception("student import %s failed", import_id)
            problem = RowProblem(row=0, message=_("The import failed. Try again later."))
            _finish(import_id, State.FAILED, [problem], data=b"")
            return State.FAILED


def _run(student_import: StudentImport) -> str:
    State = StudentImport.State
    import_id = student_import.pk
    try:
        dataset = read_student_data(name=student_import.file_name, data=bytes(student_import.data))
    except ValidationError as error:
        problems = [RowProblem(row=0, message=" ".join(error.messages))]
        _finish(import_id, State.REFUSED, problems, data=b"")
        return State.REFUSED
    _update(import_id, state=State.CHECKING, total_rows=len(dataset), rows_checked=0)
    checked = check_students(
        school=student_import.school,
        dataset=dataset,
        on_progress=lambda rows: _update(import_id, rows_checked=rows),
    )
    report = checked.report
    counts = {"rows_checked": report.total_rows, "new": report.new, "updated": report.updated}
    if report.problems:
        _finish(import_id, State.REFUSED, report.problems, data=b"", **counts)
        return State.REFUSED
    if student_import.check_only:
        _finish(import_id, State.CHECKED, [], **counts)
        return State.CHECKED
    _update(import_id, state=State.SAVING, **counts)
    try:
        save_checked(checked)
    except ListChanged:
        _finish(import_id, State.REFUSED, _list_changed(report).problems, data=b"")
        return State.REFUSED
    _finish(import_id, State.IMPORTED, [], data=b"")
    return State.IMPORTED


# An import the worker has not moved on for this long was cut short: its worker stopped or was
# killed (checking writes its progress every few hundred rows; the largest list is read and
# saved in well under a minute). One still waiting for a worker is not stalled: it waits.
IMPORT_STALLED_AFTER = timedelta(minutes=15)


def end_stalled_imports(*, school: School | None = None) -> int:
    """End as failed the imports a worker began and stopped working on mid-way, so that
    their page says so instead of "checking" for ever. Nothing of them was saved: the save
    is one transaction, which the database undoes when its worker dies. Returns how many."""
    State = StudentImport.State
    now = timezone.now()
    cutoff = now - IMPORT_STALLED_AFTER
    stalled = StudentImport.objects.filter(
        Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, created_at__lt=cutoff),
        state__in=[State.READING, State.CHECKING, State.SAVING],
    )
    if school is not None:
        stalled = stalled.filter(school=school)
    ended = 0
    for import_id, language in stalled.values_list("pk", "language"):
        with translation.override(language):
            message = _(
                "The import stopped before it ended: the worker was interrupted. Nothing "
                "was saved. Upload the file again."
            )
        # Conditional: a worker that moved on meanwhile keeps its import.
        ended += stalled.filter(pk=import_id).update(
            state=State.FAILED,
            problem_count=1,
            problems=[{"row": 0, "message": message}],
            finished_at=now,
            progress_at=now,
            data=b"",
        )
    if ended:
        logger.warning("%d student list imports had stalled; ended as failed", ended)
    return ended


def purge_old_student_imports(*, older_than_days: int = IMPORT_RECORD_DAYS) -> int:
    """Delete the records of imports that ended long ago (their problems name ID codes)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    ended = StudentImport.objects.filter(finished_at__lt=cutoff)
    return ended.delete()[1].get(StudentImport._meta.label, 0)


def set_students_studying(*, students: list[Student], studying: bool, actor: Any) -> int:
    """Mark students as studying at their school, or as no longer studying there (parents
    can no longer apply for them; nothing of them is deleted). Each change is recorded in
    the audit trail (see signals.students_activity_changed). Returns how many changed.

    The caller chooses whose students these are (the admin's list is the school's own)."""
    with transaction.atomic():
        changing = list(
            Student.objects.select_for_update()
            .select_related("school")
            .filter(pk__in=[s.pk for s in students])
            .exclude(is_active=studying)
            .order_by("pk")
        )
        if not changing:
            return 0
        Student.objects.filter(pk__in=[s.pk for s in changing]).update(
            is_active=studying, updated_at=timezone.now()
        )
        by_school: dict[School, list[Student]] = {}
        for student in changing:
            student.is_active = studying
            by_school.setdefault(student.school, []).append(student)
        for school, of_school in by_school.items():
            students_activity_changed.send(
                sender=Student, school=school, students=of_school, studying=studying, actor=actor
            )
    return len(changing)
