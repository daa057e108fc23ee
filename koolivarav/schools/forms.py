from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.translation import gettext_lazy as _
from import_export.forms import SelectableFieldsExportForm

from .idcodes import clean_id_code, split_id_codes
from .models import CONTACT_FIELDS, IDENTITY_FIELDS, IdentityMethod, School, Student
from .phones import normalize_phone
from .spreadsheets import check_file_size, check_xlsx_unpacked_size, file_too_large
from .text import normalize_name


class IdCodeListField(forms.CharField):
    """Several ID codes in one text box, separated by spaces, commas or line breaks."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return " ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        codes = split_id_codes(text or "")
        errors: list[ValidationError] = []
        cleaned = []
        for code in codes:
            try:
                cleaned.append(clean_id_code(code))
            except ValidationError as error:
                errors.extend(error.error_list)
        if errors:
            raise ValidationError(errors)
        return cleaned


class SchoolAdminForm(forms.ModelForm):
    """A school as the admin edits it. These are the fields a school's administrator may
    change; SchoolAdmin gives an operator the rest as well (its fieldsets)."""

    tara_methods = forms.MultipleChoiceField(
        label=_("TARA methods accepted"),
        choices=[(m.value, m.label) for m in IdentityMethod if m != IdentityMethod.HARID],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("The ways of proving one's identity through TARA that the school accepts."),
    )

    class Meta:
        model = School
        fields = ["hold_unconfirmed_applications", *IDENTITY_FIELDS, *CONTACT_FIELDS]

    def clean_tara_methods(self) -> list[str]:
        methods = self.cleaned_data["tara_methods"]
        if self.cleaned_data.get("tara_login") and not methods:
            raise forms.ValidationError(
                _("Choose at least one method, or turn off logging in through TARA.")
            )
        return list(methods)

    def clean_phone(self) -> str:
        phone = self.cleaned_data["phone"]
        return normalize_phone(phone) if phone else ""


class StudentAdminForm(forms.ModelForm):
    """A student typed in by hand: the same rules as a row of an imported file."""

    # The school of the portal the administrator works on; set by StudentAdmin.get_form.
    school_of_request: School | None = None

    guardian_id_codes = IdCodeListField(
        label=_("guardians' ID codes"),
        required=False,
        help_text=_("ID codes of the parents the school's own records list, separated by spaces."),
    )

    class Meta:
        model = Student
        fields = [
            "school",
            "id_code",
            "first_name",
            "last_name",
            "class_name",
            "is_active",
            "guardian_id_codes",
        ]

    def _clean_name(self, field: str) -> str:
        return normalize_name(self.cleaned_data[field])

    def clean_first_name(self) -> str:
        return self._clean_name("first_name")

    def clean_last_name(self) -> str:
        return self._clean_name("last_name")

    def clean_class_name(self) -> str:
        return self._clean_name("class_name")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        school = cleaned.get("school") or self.school_of_request
        if self.instance.pk and not school:
            school = self.instance.school
        code = cleaned.get("id_code")
        if school is not None and code:
            taken = Student.objects.filter(school=school, id_code=code)
            if self.instance.pk:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error(
                    "id_code",
                    ValidationError(
                        _("A student with this ID code is already on the school's list."),
                        code="duplicate",
                    ),
                )
        return cleaned


class FindByIdCodeForm(forms.Form):
    """The "find by ID code" box of an admin list. Its error does not repeat the code: the
    message travels in the session and the code should not."""

    error_messages = {
        "invalid": _("That is not a valid ID code: an Estonian ID code has 11 digits."),
    }

    id_code = forms.CharField(label=_("ID code"), max_length=40)

    def clean_id_code(self) -> str:
        try:
            return clean_id_code(self.cleaned_data["id_code"])
        except ValidationError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class StudentImportForm(forms.Form):
    """The admin's upload of a student list: the file, refused here only when too large; the
    worker reads and checks it (services.run_student_import).

    `upload_too_large`: the upload handler stopped keeping the file (spreadsheets.py).
    """

    import_file = forms.FileField(
        label=_("Student list"),
        help_text=_("A CSV or XLSX file with a header row, as the school's own system exports it."),
    )
    check_only = forms.BooleanField(
        label=_("Only check the file, import nothing yet"),
        required=False,
        help_text=_("You can import it from the result page once it is checked."),
    )

    def __init__(self, *args: Any, upload_too_large: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.upload_too_large = upload_too_large
        if upload_too_large:
            self.fields["import_file"].required = False  # it was sent, and dropped

    def clean_import_file(self) -> Any:
        if self.upload_too_large:
            raise file_too_large()
        upload = self.cleaned_data["import_file"]
        check_file_size(upload.size)
        name = upload.name or ""
        if name.lower().endswith(".xlsx"):
            # Cheap (the zip's directory only), and says at once what the worker would say.
            check_xlsx_unpacked_size(upload.read())
            upload.seek(0)
        elif not name.lower().endswith(".csv"):
            raise ValidationError(
                _("Unsupported file type: use a .csv or .xlsx file."), code="unsupported_format"
            )
        return upload


class StudentExportForm(SelectableFieldsExportForm):
    """django-import-export's export form, in the admin's language: the columns by their
    names in the model ("isikukood"), not their attribute names made into titles ("Id Code")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["format"].label = _("File type")
        for field in self.fields.values():
            # For the library's own page script (one resource here, and no script): not HTML.
            field.widget.attrs.pop("resource-id", None)

    def _get_field_label(self, resource: Any, field_name: str) -> str:
        field = resource.fields.get(field_name)
        attribute = getattr(field, "attribute", None) or field_name
        try:
            name = getattr(Student._meta.get_field(attribute), "verbose_name", attribute)
            return str(name).capitalize()
        except FieldDoesNotExist:
            return super()._get_field_label(resource, field_name)  # type: ignore[no-any-return]
