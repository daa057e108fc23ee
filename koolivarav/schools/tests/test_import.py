import io
from datetime import date

import pytest
import tablib
from django.core.management import CommandError, call_command
from django.utils import translation

from koolivarav.schools.demo import generate_students, make_id_code
from koolivarav.schools.models import Student
from koolivarav.schools.services import import_students, read_student_file
from koolivarav.schools.tests.factories import StudentFactory


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


HEADERS = ["id_code", "first_name", "last_name", "class_name", "guardian_id_codes"]
PARENT = make_id_code(birth=date(1980, 3, 4), female=True, serial=12)


def dataset_of(rows, headers=HEADERS):
    data = tablib.Dataset(headers=headers)
    for row in rows:
        data.append(row)
    return data


def rows(count, seed=1):
    return [
        [s["id_code"], s["first_name"], s["last_name"], s["class_name"], ""]
        for s in generate_students(count, seed=seed)
    ]


def test_a_valid_file_adds_every_student(school):
    data = rows(20)
    data[0][4] = PARENT
    report = import_students(school=school, dataset=dataset_of(data))
    assert report.written
    assert report.new == 20
    assert Student.objects.filter(school=school).count() == 20
    assert Student.objects.get(id_code=data[0][0]).guardian_id_codes == [PARENT]


def test_importing_again_updates_instead_of_duplicating(school):
    data = rows(5)
    import_students(school=school, dataset=dataset_of(data))
    data[0][3] = "8.a"
    report = import_students(school=school, dataset=dataset_of(data))
    assert report.updated == 5
    assert report.new == 0
    assert Student.objects.filter(school=school).count() == 5
    assert Student.objects.get(id_code=data[0][0]).class_name == "8.a"


def test_the_same_code_at_another_school_is_another_student(school, other_school):
    data = rows(3)
    import_students(school=school, dataset=dataset_of(data))
    report = import_students(school=other_school, dataset=dataset_of(data))
    assert report.new == 3
    assert Student.objects.count() == 6


@pytest.mark.parametrize(
    ("change", "column", "expected"),
    [
        (lambda r: r.__setitem__(0, "39001010008"), 0, "check digit"),
        (lambda r: r.__setitem__(0, "123"), 0, "11 digits"),
        (lambda r: r.__setitem__(1, ""), 1, "This field cannot be blank"),
        (lambda r: r.__setitem__(2, "   "), 2, "This field cannot be blank"),
        (lambda r: r.__setitem__(3, ""), 3, "This field cannot be blank"),
        (lambda r: r.__setitem__(4, "12345"), 4, "11 digits"),
    ],
)
def test_one_bad_row_among_a_thousand_writes_nothing_and_is_named(school, change, column, expected):
    data = rows(1000)
    change(data[536])
    report = import_students(school=school, dataset=dataset_of(data))
    assert not report.written
    assert Student.objects.count() == 0
    assert [p.row for p in report.problems] == [537]
    assert expected in report.problems[0].message


def test_a_code_twice_in_one_file_is_reported_on_the_second_row(school):
    data = rows(10)
    data[7][0] = data[2][0]
    report = import_students(school=school, dataset=dataset_of(data))
    assert Student.objects.count() == 0
    assert [p.row for p in report.problems] == [8]
    assert "row 3" in report.problems[0].message


def test_an_existing_student_is_untouched_when_the_file_has_a_bad_row(school):
    existing = StudentFactory(school=school, class_name="5.a")
    data = rows(3)
    data[0] = [existing.id_code, existing.first_name, existing.last_name, "6.a", ""]
    data[2][0] = "bad"
    import_students(school=school, dataset=dataset_of(data))
    existing.refresh_from_db()
    assert existing.class_name == "5.a"
    assert Student.objects.count() == 1


def test_estonian_headers_and_spreadsheet_numbers_are_understood(school):
    code = rows(1)[0][0]
    data = dataset_of(
        [[float(code), "  Kärt ", "Mägi", "7.b", f"{PARENT}, {PARENT}"]],
        headers=["Isikukood", "Eesnimi", "Perekonnanimi", "Klass", "Vanemate isikukoodid"],
    )
    report = import_students(school=school, dataset=data)
    assert report.written, report.problems
    student = Student.objects.get()
    assert (student.id_code, student.first_name, student.guardian_id_codes) == (
        code,
        "Kärt",
        [PARENT],
    )


def test_a_file_without_the_needed_columns_is_refused_whole(school):
    report = import_students(school=school, dataset=dataset_of([["x"]], headers=["nimi"]))
    assert not report.written
    assert "id_code" in report.problems[0].message
    assert report.problems[0].row == 0
    assert Student.objects.count() == 0


def test_a_dry_run_writes_nothing(school):
    report = import_students(school=school, dataset=dataset_of(rows(4)), dry_run=True)
    assert report.written
    assert report.new == 4
    assert Student.objects.count() == 0


def test_decomposed_letters_are_stored_precomposed(school):
    code = rows(1)[0][0]
    import_students(
        school=school, dataset=dataset_of([[code, "Ka\u0308rt", "Ma\u0303gi", "1.a", ""]])
    )
    assert Student.objects.get().first_name == "Kärt"


def test_csv_and_xlsx_files_are_read(school, tmp_path):
    data = dataset_of(rows(3))
    csv_path = tmp_path / "list.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + data.export("csv").encode())
    xlsx_path = tmp_path / "list.xlsx"
    xlsx_path.write_bytes(data.export("xlsx"))
    assert len(read_student_file(path=csv_path)) == 3
    assert len(read_student_file(path=xlsx_path)) == 3


def test_the_command_imports_a_file(school, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(dataset_of(rows(5)).export("csv"))
    out = io.StringIO()
    call_command("import_students", str(path), "--school", "jpk", stdout=out)
    assert "5 new" in out.getvalue()
    assert Student.objects.count() == 5


def test_the_command_names_the_bad_row_and_fails(school, tmp_path):
    data = rows(5)
    data[3][0] = "39001010008"
    path = tmp_path / "list.csv"
    path.write_text(dataset_of(data).export("csv"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_students", str(path), "--school", "jpk", stderr=err)
    assert "row 4" in err.getvalue()
    assert Student.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("list.txt", b"x", "Unsupported file type"), ("list.xlsx", b"not a zip", "could not be read")],
)
def test_the_command_refuses_files_it_cannot_read(school, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_students", str(path), "--school", "jpk")


def test_the_command_has_the_uploads_limits(school, tmp_path, settings):
    settings.STUDENT_FILE_MAX_ROWS = 5
    path = tmp_path / "list.csv"
    path.write_text("id_code,first_name,last_name,class_name\n" + "x,y,z,1a\n" * 6)
    with pytest.raises(CommandError, match="more than 5 rows"):
        call_command("import_students", str(path), "--school", "jpk")
    settings.STUDENT_FILE_MAX_BYTES = 10
    with pytest.raises(CommandError, match="too large"):
        call_command("import_students", str(path), "--school", "jpk")
    assert Student.objects.count() == 0


def test_the_command_refuses_an_unknown_school(school, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("id_code\n")
    with pytest.raises(CommandError, match="No school"):
        call_command("import_students", str(path), "--school", "nope")


def test_empty_rows_at_the_end_of_a_spreadsheet_are_ignored(school):
    data = dataset_of([*rows(3), ["", "", "", "", ""], [None, None, None, None, None]])
    report = import_students(school=school, dataset=data)
    assert report.written, report.problems
    assert Student.objects.count() == 3
