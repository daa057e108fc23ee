"""The school's student list as a file (CSV or XLSX), read with django-import-export."""

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.instance_loaders import BaseInstanceLoader

from .idcodes import clean_id_code, split_id_codes
from .models import School, Student
from .text import normalize_name

# Header names a school's export may use for each column, all compared in lower case.
COLUMN_ALIASES = {
    "id_code": ("id_code", "isikukood", "õpilase isikukood", "id code", "personal code"),
    "first_name": ("first_name", "eesnimi", "first name"),
    "last_name": ("last_name", "perekonnanimi", "perenimi", "last name"),
    "class_name": ("class_name", "klass", "class"),
    "guardian_id_codes": (
        "guardian_id_codes",
        "vanemate isikukoodid",
        "vanema isikukood",
        "guardians",
        "guardian id codes",
    ),
    "is_active": ("is_active", "aktiivne", "active"),
}
_HEADER_FOR_ALIAS = {
    alias: column for column, aliases in COLUMN_ALIASES.items() for alias in aliases
}


def _checked_code(value: str) -> str:
    # import-export files a ValueError under the column it came from; a ValidationError
    # would abort the whole row as a general error instead.
    try:
        return clean_id_code(value)
    except ValidationError as error:
        raise ValueError(" ".join(error.messages)) from None


class NameWidget(widgets.CharWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        return normalize_name(str(value)) if value is not None else ""


class IdCodeWidget(widgets.CharWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        # Spreadsheets turn an 11-digit code into a number: 39001010000.0 -> "39001010000".
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return _checked_code(str(value or ""))


class IdCodeListWidget(widgets.Widget):
    """Several codes in one cell, separated by spaces, commas or semicolons."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[str]:
        if value is None or value == "":
            return []
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return [_checked_code(code) for code in split_id_codes(str(value))]

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return " ".join(value or [])


class SchoolStudentLoader(BaseInstanceLoader):
    """Loads the school's whole list once, so a 100,000-row file costs one query, not 100,000."""

    def __init__(self, resource: "StudentResource", dataset: Any = None) -> None:
        super().__init__(resource, dataset)
        self.by_code = {s.id_code: s for s in Student.objects.filter(school=resource.school)}

    def get_instance(self, row: dict[str, Any]) -> Student | None:
        try:
            code = clean_id_code(str(row.get("id_code") or ""))
        except ValidationError:
            return None
        return self.by_code.get(code)


class StudentResource(resources.ModelResource):
    id_code = fields.Field(attribute="id_code", column_name="id_code", widget=IdCodeWidget())
    first_name = fields.Field(attribute="first_name", column_name="first_name", widget=NameWidget())
    last_name = fields.Field(attribute="last_name", column_name="last_name", widget=NameWidget())
    class_name = fields.Field(attribute="class_name", column_name="class_name", widget=NameWidget())
    guardian_id_codes = fields.Field(
        attribute="guardian_id_codes",
        column_name="guardian_id_codes",
        widget=IdCodeListWidget(),
        default=list,
    )
    is_active = fields.Field(
        attribute="is_active", column_name="is_active", widget=widgets.BooleanWidget(), default=True
    )

    class Meta:
        model = Student
        fields = (
            "id_code",
            "first_name",
            "last_name",
            "class_name",
            "guardian_id_codes",
            "is_active",
        )
        import_id_fields = ("id_code",)
        instance_loader_class = SchoolStudentLoader
        clean_model_instances = True
        use_transactions = True
        skip_unchanged = False
        report_skipped = True

    def __init__(self, *, school: School | None = None, **kwargs: Any) -> None:
        # Without a school the resource only describes its columns (the admin's export form
        # asks it for them); it reads and writes no student.
        super().__init__(**kwargs)
        self.school = school
        self._row_of_code: dict[str, int] = {}

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if self.school is None:
            return Student.objects.none()
        return Student.objects.filter(school=self.school)

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        # Spreadsheets often end with empty rows; they are not students, and not errors.
        for index in reversed(range(len(dataset))):
            if all(cell is None or str(cell).strip() == "" for cell in dataset[index]):
                del dataset[index]
        # Accept the header names a school's own export uses (Estonian or English, any case).
        dataset.headers = [
            _HEADER_FOR_ALIAS.get(normalize_name(str(h or "")).lower(), h) for h in dataset.headers
        ]
        missing = [
            column
            for column in ("id_code", "first_name", "last_name", "class_name")
            if column not in dataset.headers
        ]
        if missing:
            raise ValidationError(
                _("The file has no column for: %(columns)s."),
                code="missing_columns",
                params={"columns": ", ".join(missing)},
            )
        self._row_of_code = {}

    def init_instance(self, row: Any = None) -> Student:
        if self.school is None:
            raise ValueError("A student list is imported into a school.")
        return Student(school=self.school)

    def import_instance(self, instance: Student, row: Any, **kwargs: Any) -> None:
        super().import_instance(instance, row, **kwargs)
        # A code repeated in the same file would silently overwrite the first row.
        row_number = kwargs.get("row_number", 0)
        code = instance.id_code
        if code:
            first = self._row_of_code.setdefault(code, row_number)
            if first != row_number:
                raise ValidationError(
                    {
                        "id_code": ValidationError(
                            _("ID code %(code)s is already on row %(row)s of this file."),
                            code="duplicate_in_file",
                            params={"code": code, "row": first},
                        )
                    }
                )

    def validate_instance(
        self, instance: Student, import_validation_errors: Any = None, validate_unique: bool = True
    ) -> None:
        errors = dict(import_validation_errors or {})
        try:
            # Uniqueness is settled by the loader (one query for the whole file) and the
            # duplicate check above; asking the database again per row would cost a query each.
            instance.full_clean(
                exclude=[*errors.keys(), "school"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as e:
            errors = e.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)


class BulkStudentResource(StudentResource):
    """The same rules for large files: saved in batches, without the per-row preview diff."""

    class Meta(StudentResource.Meta):
        use_bulk = True
        batch_size = 2000
        skip_diff = True


class CheckingStudentResource(BulkStudentResource):
    """Checks every row of a file and writes nothing: what is to be written is kept
    (`to_create`, `to_update`) for `services.save_checked`, which writes it in one short
    transaction. `on_progress(rows)` hears how far the check is, every PROGRESS_EVERY rows.

    The check runs outside any transaction, so that whoever reports the progress commits it
    at once (a worker's check of 100,000 rows takes most of a minute); saving is the fast
    part, so holding the database for it is short.
    """

    PROGRESS_EVERY = 500

    def __init__(self, *, school: School, on_progress: Any = None, **kwargs: Any) -> None:
        super().__init__(school=school, **kwargs)
        self.on_progress = on_progress
        self.rows_checked = 0
        self.to_create: list[Student] = []
        self.to_update: list[Student] = []

    def check(self, dataset: Any) -> Any:
        """The import-export Result of checking every row (no transaction, nothing saved)."""
        return self.import_data_inner(
            dataset,
            dry_run=True,
            raise_errors=False,
            using_transactions=False,
            collect_failed_rows=False,
        )

    def import_row(self, row: Any, instance_loader: Any, **kwargs: Any) -> Any:
        row_result = super().import_row(row, instance_loader, **kwargs)
        self.rows_checked += 1
        if self.on_progress is not None and self.rows_checked % self.PROGRESS_EVERY == 0:
            self.on_progress(self.rows_checked)
        return row_result

    # import-export hands each batch of checked rows to these; they are kept, not written.
    def bulk_create(self, *args: Any, **kwargs: Any) -> None:
        self.to_create.extend(self.create_instances)
        self.create_instances.clear()

    def bulk_update(self, *args: Any, **kwargs: Any) -> None:
        self.to_update.extend(self.update_instances)
        self.update_instances.clear()

    def bulk_delete(self, *args: Any, **kwargs: Any) -> None:
        self.delete_instances.clear()
