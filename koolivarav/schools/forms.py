from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .idcodes import clean_id_code, split_id_codes
from .models import Student


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


class StudentAdminForm(forms.ModelForm):
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
