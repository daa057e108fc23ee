"""Student lists as files: read within limits, written without live formulas.

Reading: an uploaded file is refused, with a message that says why, before it can cost much —
larger than STUDENT_FILE_MAX_BYTES; an XLSX whose parts declare more than
STUDENT_FILE_MAX_UNPACKED_BYTES unpacked (checked in the zip's directory before openpyxl opens
it: a 65 kB file can unpack to gigabytes, and Python's zipfile never unpacks more than a part
declares); more than STUDENT_FILE_MAX_ROWS rows (counted while reading, so the reading stops
there).

Writing: a spreadsheet treats a cell that starts with = + - @ (or a tab or carriage return
before one) as a formula, which can run commands or send data away when the file is opened. No
valid name, class or code starts so, but an exported cell that does gets a leading apostrophe,
and reading removes exactly that apostrophe again, so an exported file imports unchanged.
"""

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import tablib
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from import_export.formats.base_formats import CSV, XLSX

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NEUTRAL = "'"


def _starts_a_formula(value: str) -> bool:
    # Apostrophes first count too, so that a value that already starts with one is told
    # apart from one neutralise() made: restore(neutralise(v)) == v for every v.
    return value.lstrip(_NEUTRAL).startswith(FORMULA_STARTS)


def neutralise(value: Any) -> Any:
    """The cell as a spreadsheet will show it as text, never run it."""
    if isinstance(value, str) and _starts_a_formula(value):
        return _NEUTRAL + value
    return value


def restore(value: Any) -> Any:
    """What neutralise() made of a value, back to the value."""
    if isinstance(value, str) and value[:1] == _NEUTRAL and _starts_a_formula(value[1:]):
        return value[1:]
    return value


def _neutralised(dataset: tablib.Dataset) -> tablib.Dataset:
    safe = tablib.Dataset(headers=[neutralise(h) for h in dataset.headers or []])
    for row in dataset:
        safe.append([neutralise(cell) for cell in row])
    return safe


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}".removesuffix(".0")


def file_too_large() -> ValidationError:
    return ValidationError(
        _(
            "The file is too large: a student list may be at most %(limit)s MB. Leave out "
            "columns the import does not need, or split the list."
        ),
        code="file_too_large",
        params={"limit": _megabytes(settings.STUDENT_FILE_MAX_BYTES)},
    )


def check_file_size(size: int) -> None:
    if size > settings.STUDENT_FILE_MAX_BYTES:
        raise file_too_large()


class StudentFileUploadHandler(FileUploadHandler):
    """First of the upload handlers: stops keeping an uploaded file once it passes
    STUDENT_FILE_MAX_BYTES, so an enormous upload fills neither memory nor disk. The form
    then says the file was too large (`request.upload_too_large`)."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.STUDENT_FILE_MAX_BYTES:
            self.request.upload_too_large = True  # type: ignore[union-attr]
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) keeps the file


def _too_many_rows() -> ValidationError:
    limit = settings.STUDENT_FILE_MAX_ROWS
    return ValidationError(
        ngettext(
            "The file has more than %(limit)d row: import at most %(limit)d students at a "
            "time, splitting the list into several files.",
            "The file has more than %(limit)d rows: import at most %(limit)d students at a "
            "time, splitting the list into several files.",
            limit,
        ),
        code="too_many_rows",
        params={"limit": limit},
    )


def check_xlsx_unpacked_size(data: bytes) -> None:
    """Refuse an XLSX whose parts would unpack to more than the limit (a "zip bomb")."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip at all: openpyxl says so in its own way, as for any damaged file
    if unpacked > settings.STUDENT_FILE_MAX_UNPACKED_BYTES:
        raise ValidationError(
            _(
                "The file unpacks to more than %(limit)s MB, far more than a student list "
                "needs. Save the list again as a new XLSX or CSV file with only its data."
            ),
            code="unpacks_too_large",
            params={"limit": _megabytes(settings.STUDENT_FILE_MAX_UNPACKED_BYTES)},
        )


def _is_blank(row: Sequence[Any]) -> bool:
    return all(cell is None or str(cell).strip() == "" for cell in row)


def _dataset_of(rows: Iterator[Sequence[Any]], *, blank: Any) -> tablib.Dataset:
    """The rows under the header, blank ones left out, refused past the row limit.

    Blank rows (spreadsheets keep formatted empty ones) do not count as students, but no file
    may make the reading go on for ever with them either.
    """
    limit = settings.STUDENT_FILE_MAX_ROWS
    dataset = tablib.Dataset()
    dataset.headers = [restore(cell) for cell in next(rows, ())]
    width = len(dataset.headers)
    students = 0
    for read, row in enumerate(rows, start=1):
        if read > 10 * limit:
            raise _too_many_rows()
        if _is_blank(row):
            continue
        students += 1
        if students > limit:
            raise _too_many_rows()
        cells = [restore(cell) for cell in row]
        dataset.append(cells + [blank] * (width - len(cells)))
    return dataset


class StudentCSV(CSV):
    """CSV with the limits on reading and neutralised formulas on writing."""

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:
        if isinstance(in_stream, bytes):
            in_stream = in_stream.decode(self.encoding or "utf-8-sig")
        check_file_size(len(in_stream.encode()))
        return _dataset_of(csv.reader(io.StringIO(in_stream)), blank="")

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> Any:
        return super().export_data(_neutralised(dataset), **kwargs)


class StudentXLSX(XLSX):
    """XLSX with the limits on reading and neutralised formulas on writing."""

    def create_dataset(self, in_stream: bytes) -> tablib.Dataset:  # type: ignore[override]
        import openpyxl

        check_file_size(len(in_stream))
        check_xlsx_unpacked_size(in_stream)
        book = openpyxl.load_workbook(io.BytesIO(in_stream), read_only=True, data_only=True)
        try:
            rows = book.active.iter_rows(values_only=True)  # type: ignore[union-attr]
            return _dataset_of(rows, blank=None)
        finally:
            book.close()

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> Any:
        return super().export_data(_neutralised(dataset), **kwargs)
