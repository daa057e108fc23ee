"""State changes of schools and students."""

from dataclasses import dataclass
from pathlib import Path

import tablib
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.translation import gettext as _
from import_export.formats.base_formats import TablibFormat
from import_export.results import Result

from .models import School, Student
from .resources import BulkStudentResource
from .spreadsheets import StudentCSV, StudentXLSX, check_file_size

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
    input_format = IMPORT_FORMATS.get(path.suffix.lower())
    if input_format is None:
        raise ValidationError(
            _("Unsupported file type %(suffix)s: use a .csv or .xlsx file."),
            code="unsupported_format",
            params={"suffix": path.suffix or "?"},
        )
    fmt = input_format(encoding="utf-8-sig")
    # The same limits as an upload in the admin: size, unpacked size and rows.
    check_file_size(path.stat().st_size)
    data = path.read_bytes()
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


def import_students(
    *, school: School, dataset: tablib.Dataset, dry_run: bool = False
) -> ImportReport:
    """Add or update the school's students from a dataset: every row, or none of them.

    A student already on the school's list (same ID code) is updated. When any row is
    invalid, nothing is written and the report names each bad row and what is wrong with it.
    """
    resource = BulkStudentResource(school=school)
    result = resource.import_data(
        dataset,
        dry_run=dry_run,
        use_transactions=True,
        rollback_on_validation_errors=True,
        raise_errors=False,
    )
    totals = result.totals
    return ImportReport(
        total_rows=result.total_rows,
        new=totals.get("new", 0),
        updated=totals.get("update", 0),
        unchanged=totals.get("skip", 0),
        problems=_problems_of(result),
    )
