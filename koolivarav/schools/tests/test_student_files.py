"""The student list as a file: the admin's export (CSV, XLSX) with neutralised formulas, and
the limits on what an upload may cost (issue 16 items 7 and 9)."""

import csv
import io
import zipfile

import openpyxl
import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from koolivarav.accounts.tests.factories import log_in_as_administrator
from koolivarav.accounts.tests.worker import run_queued_tasks
from koolivarav.schools.admin import StudentAdmin
from koolivarav.schools.demo import generate_students
from koolivarav.schools.models import Student, StudentImport
from koolivarav.schools.resources import StudentResource
from koolivarav.schools.spreadsheets import StudentCSV, StudentXLSX
from koolivarav.schools.tests.factories import StudentFactory

EXPORT = reverse("admin:schools_student_export")
IMPORT = reverse("admin:schools_student_import")
COLUMNS = ["id_code", "first_name", "last_name", "class_name", "guardian_id_codes", "is_active"]
FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.fixture(autouse=True)
def _english(admin_client_of_school):
    admin_client_of_school.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def _export(client, file_format: int):
    """The export form as the admin's page posts it: a format and every column ticked."""
    data = {"format": str(file_format), "resource": "0"}
    data |= {f"studentresource_{column}": "on" for column in COLUMNS}
    return client.post(EXPORT, data)


def _csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _xlsx_sheet(content: bytes):
    return openpyxl.load_workbook(io.BytesIO(content)).active


# --- export -------------------------------------------------------------------------------


def test_the_export_page_opens(admin_client_of_school, student):
    assert admin_client_of_school.get(EXPORT).status_code == 200


def test_a_school_exports_its_own_students_as_csv_with_full_id_codes(
    admin_client_of_school, school, other_school
):
    ours = [StudentFactory(school=school), StudentFactory(school=school, is_active=False)]
    StudentFactory(school=other_school, last_name="Teisekooli")
    response = _export(admin_client_of_school, 0)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    rows = _csv_rows(response)
    assert sorted(r["id_code"] for r in rows) == sorted(s.id_code for s in ours)
    assert "Teisekooli" not in response.content.decode()


def test_a_school_exports_its_own_students_as_xlsx(admin_client_of_school, school, other_school):
    ours = StudentFactory(school=school)
    StudentFactory(school=other_school)
    response = _export(admin_client_of_school, 1)
    assert response.status_code == 200
    sheet = _xlsx_sheet(response.content)
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == COLUMNS
    assert [row[0] for row in rows[1:]] == [ours.id_code]


def test_an_operator_exports_the_school_of_the_portal_they_are_on(operator, school, other_school):
    ours = StudentFactory(school=school)
    StudentFactory(school=other_school)
    client = log_in_as_administrator(Client(HTTP_HOST="jpk.example.ee"), operator)
    assert [r["id_code"] for r in _csv_rows(_export(client, 0))] == [ours.id_code]


def test_the_export_follows_the_lists_filters(admin_client_of_school, school):
    active = StudentFactory(school=school)
    StudentFactory(school=school, is_active=False)
    data = {"format": "0", "resource": "0"}
    data |= {f"studentresource_{column}": "on" for column in COLUMNS}
    response = admin_client_of_school.post(f"{EXPORT}?is_active__exact=1", data)
    assert [r["id_code"] for r in _csv_rows(response)] == [active.id_code]


@pytest.mark.parametrize("value", FORMULAS)
def test_no_exported_csv_cell_starts_a_formula(admin_client_of_school, school, value):
    # Stored before the rules of today, or by hand in the database: the export must not run it.
    Student.objects.create(
        school=school, id_code="51203030027", first_name=value, last_name="@x", class_name="-1"
    )
    (row,) = _csv_rows(_export(admin_client_of_school, 0))
    for column, cell in row.items():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), column
    assert row["first_name"] == "'" + value
    assert (row["last_name"], row["class_name"]) == ("'@x", "'-1")


@pytest.mark.parametrize("value", FORMULAS)
def test_no_exported_xlsx_cell_is_a_formula(admin_client_of_school, school, value):
    Student.objects.create(
        school=school, id_code="51203030027", first_name=value, last_name="Tamm", class_name="7.b"
    )
    sheet = _xlsx_sheet(_export(admin_client_of_school, 1).content)
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    # XML keeps no carriage return (it reads back as a line feed), in any XLSX file.
    assert sheet["B2"].value == "'" + value.replace("\r", "\n")


@pytest.mark.parametrize("file_format", [StudentCSV, StudentXLSX])
def test_neutralised_cells_read_back_as_they_were(file_format):
    data = tablib.Dataset(headers=["first_name", "last_name"])
    values = [*FORMULAS, "Mari", "O'Connor", "'quoted", "'=already", "''+twice", "'"]
    for value in values:
        if not (file_format is StudentXLSX and "\r" in value):  # XML keeps no CR at all
            data.append([value, "Tamm"])
    fmt = file_format(encoding="utf-8-sig")
    exported = fmt.export_data(data)
    if not fmt.is_binary():
        exported = exported.encode("utf-8-sig")
    again = fmt.create_dataset(exported if fmt.is_binary() else exported.decode("utf-8-sig"))
    assert [list(row) for row in again] == [list(row) for row in data]


@pytest.mark.parametrize("file_format", [0, 1], ids=["csv", "xlsx"])
def test_an_exported_file_imports_into_another_school_unchanged(
    admin_client_of_school, school, other_school, file_format
):
    for row in generate_students(5, seed=4):
        Student.objects.create(school=school, guardian_id_codes=["38001085718"], **row)
    Student.objects.filter(school=school).filter(pk__in=Student.objects.values("pk")[:1]).update(
        is_active=False
    )
    response = _export(admin_client_of_school, file_format)
    fmt = (StudentCSV, StudentXLSX)[file_format](encoding="utf-8-sig")
    content = response.content if fmt.is_binary() else response.content.decode("utf-8-sig")
    result = StudentResource(school=other_school).import_data(
        fmt.create_dataset(content), raise_errors=True
    )
    assert not result.has_validation_errors()

    def listed(where):
        fields = ["id_code", "first_name", "last_name", "class_name", "guardian_id_codes"]
        return sorted(Student.objects.filter(school=where).values_list(*fields, "is_active"))

    assert listed(other_school) == listed(school)


# --- upload limits ------------------------------------------------------------------------


def _csv_file(count: int) -> bytes:
    lines = ["isikukood,eesnimi,perekonnanimi,klass"]
    lines += [
        f"{r['id_code']},{r['first_name']},{r['last_name']},{r['class_name']}"
        for r in generate_students(count, seed=5)
    ]
    return ("\n".join(lines) + "\n").encode()


def _xlsx_file(count: int) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["isikukood", "eesnimi", "perekonnanimi", "klass"])
    for r in generate_students(count, seed=5):
        sheet.append([r["id_code"], r["first_name"], r["last_name"], r["class_name"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bomb_xlsx(unpacked_mb: int = 200) -> bytes:
    """A real XLSX of two students whose sheet is padded with white space (legal XML between
    rows) to unpack to `unpacked_mb` MB: small on the wire, enormous to read."""
    source = zipfile.ZipFile(io.BytesIO(_xlsx_file(2)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                padding = b" " * (1024 * 1024)
                head, tail = data.split(b"</sheetData>")
                with bomb.open(member.filename, "w", force_zip64=True) as sheet:
                    sheet.write(head)
                    for _ in range(unpacked_mb):
                        sheet.write(padding)
                    sheet.write(b"</sheetData>" + tail)
            else:
                bomb.writestr(member, data)
    return out.getvalue()


def _upload(client, name: str, content: bytes, **fields):
    content_type = "text/csv" if name.endswith(".csv") else "application/octet-stream"
    return client.post(
        IMPORT, {"import_file": SimpleUploadedFile(name, content, content_type), **fields}
    )


def _imported(client, name: str, content: bytes, **fields) -> tuple[StudentImport, str]:
    """Upload the file, let the worker run the import, and read the import's page."""
    response = _upload(client, name, content, **fields)
    assert response.status_code == 302, _form_errors(response)
    run_queued_tasks(deliver=False)
    student_import = StudentImport.objects.latest("pk")
    return student_import, client.get(response["Location"]).content.decode()


def _form_errors(response) -> list[str]:
    form = response.context["form"] if response.context else None
    return [str(e) for e in form.errors.get("import_file", [])] if form else []


def test_a_file_too_large_is_refused_before_it_is_read(admin_client_of_school, settings):
    settings.STUDENT_FILE_MAX_BYTES = 1024 * 1024
    response = _upload(admin_client_of_school, "list.csv", _csv_file(40_000))
    assert response.status_code == 200
    assert response.wsgi_request.upload_too_large  # the upload handler stopped keeping it
    assert _form_errors(response) == [
        "The file is too large: a student list may be at most 1 MB. Leave out columns the "
        "import does not need, or split the list."
    ]
    assert Student.objects.count() == 0
    assert not StudentImport.objects.exists()


def test_a_file_within_the_limit_is_kept_whole_for_the_worker(admin_client_of_school, settings):
    settings.STUDENT_FILE_MAX_BYTES = 1024 * 1024
    content = _csv_file(100)
    response = _upload(admin_client_of_school, "list.csv", content)
    assert not getattr(response.wsgi_request, "upload_too_large", False)
    assert bytes(StudentImport.objects.get().data) == content


def test_a_zip_bomb_is_refused_from_the_zips_directory(admin_client_of_school, settings):
    bomb = zip_bomb_xlsx(200)
    assert len(bomb) < 2 * 1024 * 1024  # small on the wire: the size limit lets it through
    response = _upload(admin_client_of_school, "list.xlsx", bomb)
    (error,) = _form_errors(response)
    assert error.startswith("The file unpacks to more than 40 MB")
    assert Student.objects.count() == 0


def test_a_file_of_another_type_is_refused_at_the_upload(admin_client_of_school):
    (error,) = _form_errors(_upload(admin_client_of_school, "list.ods", b"PK"))
    assert error == "Unsupported file type: use a .csv or .xlsx file."


@pytest.mark.parametrize("name", ["list.csv", "list.xlsx"])
def test_too_many_rows_are_refused_with_the_limit(admin_client_of_school, settings, name):
    settings.STUDENT_FILE_MAX_ROWS = 20
    content = _csv_file(21) if name.endswith(".csv") else _xlsx_file(21)
    student_import, page = _imported(admin_client_of_school, name, content)
    assert student_import.state == StudentImport.State.REFUSED
    assert "The file has more than 20 rows: import at most 20 students" in page
    assert Student.objects.count() == 0
    assert bytes(student_import.data) == b""  # the file is not kept past its import


@pytest.mark.parametrize("name", ["list.csv", "list.xlsx"])
def test_the_row_limit_itself_is_accepted(admin_client_of_school, settings, name):
    settings.STUDENT_FILE_MAX_ROWS = 20
    content = _csv_file(20) if name.endswith(".csv") else _xlsx_file(20)
    student_import, _page = _imported(admin_client_of_school, name, content)
    assert student_import.state == StudentImport.State.IMPORTED, student_import.problems
    assert Student.objects.count() == 20


def test_blank_rows_do_not_count_but_cannot_go_on_for_ever(admin_client_of_school, settings):
    settings.STUDENT_FILE_MAX_ROWS = 20
    content = _csv_file(5) + b",,,\n" * 150
    student_import, _page = _imported(admin_client_of_school, "list.csv", content)
    assert student_import.state == StudentImport.State.IMPORTED
    content = _csv_file(5) + b",,,\n" * 250
    student_import, page = _imported(admin_client_of_school, "list.csv", content)
    assert student_import.state == StudentImport.State.REFUSED
    assert "The file has more than 20 rows" in page


def test_the_page_shows_one_page_of_bad_rows(admin_client_of_school, monkeypatch):
    monkeypatch.setattr(StudentAdmin, "shown_problems", 5)
    header, *rows = _csv_file(12).splitlines()
    content = b"\n".join([header] + [row + b"\x07" for row in rows])  # a bad class on every row
    student_import, page = _imported(admin_client_of_school, "list.csv", content)
    assert student_import.problem_count == 12
    assert "Nothing was imported: 12 problems." in page
    shown = page[page.index("<tbody>") : page.index("</tbody>")]
    assert shown.count("<tr>") == 5
    assert "… and 7 more problems." in page
    assert "import_now" not in page
    assert Student.objects.count() == 0
