"""The two steps of the public application form."""

import unicodedata
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from koolivarav.accounts import throttling
from koolivarav.accounts.phones import normalize_phone
from koolivarav.notifications.addresses import validate_deliverable_email
from koolivarav.schools.idcodes import clean_id_code, split_id_codes
from koolivarav.schools.models import IdentityMethod, School
from koolivarav.schools.selectors import students_matching
from koolivarav.schools.text import NAME_PATTERN, normalize_name

from .services import MAX_ANSWER_LENGTH, ApplicantData, has_control_characters
from .verified import VerifiedParent

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


ERROR_MESSAGES = {
    "children_required": _("Enter your child's ID code."),
    "too_many_children": _("One application can name at most %(max)s children."),
    "not_a_student": _(
        "ID code %(code)s is not on this school's list of students. Please check the code; "
        "if it is right, ask the school to enter your child into the system."
    ),
    # Said instead of not_a_student once the client has had the day's share of codes named.
    "codes_not_on_the_list": _(
        "At least one of the ID codes entered is not on this school's list of students. "
        "Please check the codes; if they are right, please contact the school (%(school)s)."
    ),
    # Said to every request from a client address that has tried too many unknown codes today.
    "codes_not_checked": _(
        "Too many ID codes that are not on this school's list have been tried from your "
        "network today, so the form cannot check children's codes now. Please try again "
        "tomorrow or contact the school (%(school)s)."
    ),
    "parent_is_child": _("Your own ID code cannot be one of the children's codes."),
    "name_characters": _("Please use only letters, spaces, hyphens and apostrophes."),
    "name_not_latin": _(
        "Write the name in Latin letters, as in your Estonian ID document "
        "(for example Jelena, not Елена)."
    ),
    "email_mismatch": _(
        "This is not the same e-mail address as on the previous page. Please type it again."
    ),
}


def _is_latin(name: str) -> bool:
    """Whether every letter is a Latin one (with any diacritics: õ, ž, ş, ł…).

    The application's name must match the one in the Estonian ID document, which is written
    in Latin letters; a Cyrillic "Елена" (or a Latin-looking "Jelena" typed with a Cyrillic
    e, U+0435) would never match the school's records or the login by name.
    """
    return all(
        not char.isalpha() or unicodedata.name(char, "").startswith("LATIN ") for char in name
    )


EMAIL_INVALID = _("Type a valid e-mail address, such as mari@example.ee.")


def _name_field(label: "StrOrPromise") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ApplicationForm(forms.Form):
    """Step 1: the six fields of the school guide. Every field is required."""

    child_id_codes = forms.CharField(
        label=_("Student's ID code"),
        help_text=_(
            "If you have several children, enter all their ID codes, "
            'e.g.: "59401011234 69510101234"'
        ),
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    parent_id_code = forms.CharField(
        label=_("Your ID code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )
    first_name = _name_field(_("Your first name"))
    last_name = _name_field(_("Your last name"))
    email = forms.EmailField(
        label=_("Your e-mail"),
        max_length=254,
        validators=[validate_deliverable_email],
        # Django's own message speaks to the parent formally ("Sisestage …").
        error_messages={"invalid": EMAIL_INVALID},
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Your phone"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )

    def __init__(
        self,
        *args: Any,
        school: School,
        client_address: str,
        verified: VerifiedParent | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.school = school
        self.client_address = client_address
        self.verified = verified
        if verified is not None:
            # The provider's word: shown, not editable (a disabled field ignores what is sent).
            method = IdentityMethod(verified.method).label
            for name, value in (
                ("parent_id_code", verified.id_code),
                ("first_name", verified.first_name),
                ("last_name", verified.last_name),
            ):
                self.initial[name] = value
                self.fields[name].disabled = True
                self.fields[name].help_text = _("Confirmed with %(method)s.") % {"method": method}
        # The browser's own checks would stop a form before the server's clearer messages.
        for field in self.fields.values():
            field.widget.attrs.pop("maxlength", None)

    def _error(self, key: str, **params: Any) -> ValidationError:
        return ValidationError(ERROR_MESSAGES[key], code=key, params=params or None)

    def clean_child_id_codes(self) -> list[str]:
        codes = split_id_codes(self.cleaned_data["child_id_codes"])
        if not codes:
            raise self._error("children_required")
        maximum = settings.KOOLIVARAV["MAX_CHILDREN_PER_APPLICATION"]
        if len(codes) > maximum:
            raise self._error("too_many_children", max=maximum)
        errors: list[ValidationError] = []
        valid: list[str] = []
        for code in codes:
            try:
                valid.append(clean_id_code(code))
            except ValidationError as error:
                errors.extend(error.error_list)
        if errors:
            raise ValidationError(errors)
        # Past the day's hard limit of distinct unknown codes, no code is checked at all for
        # this client address: even "all right, on to step 2" would tell a stranger that a
        # child attends the school, one code per request.
        stop = throttling.limit("unknown_child_codes_stop_per_address")
        if throttling.is_over(stop, self.client_address):
            raise self._error("codes_not_checked", school=self.school.name)
        found = students_matching(school=self.school, id_codes=valid)
        # The same message whether the code is unknown, belongs to another school or to a
        # student who has left: the form tells no more than it needs to.
        unknown = [code for code in valid if code not in found]
        if not unknown:
            return valid
        throttling.hit_distinct(stop, self.client_address, unknown)
        if self._may_name(unknown):
            raise ValidationError([self._error("not_a_student", code=code) for code in unknown])
        # Not even the codes still within the allowance: naming them would tell that the
        # unnamed one is not a student either.
        raise self._error("codes_not_on_the_list", school=self.school.name)

    def _may_name(self, unknown_codes: list[str]) -> bool:
        """Whether the day's allowance of distinct unknown codes covers these codes.

        A parent is told which code is wrong; a stranger trying code after code would learn
        who attends the school. So each client address and each e-mail address has a few
        distinct unknown codes named a day (a code typed again costs nothing); codes with a
        wrong check digit never reach here, as they tell nothing about the school.
        """
        email = str(self.data.get(self.add_prefix("email"), "")).strip().casefold()
        within = [
            throttling.hit_distinct(
                throttling.limit("unknown_child_codes_per_address"),
                self.client_address,
                unknown_codes,
            )
        ]
        if email:
            within.append(
                throttling.hit_distinct(
                    throttling.limit("unknown_child_codes_per_email"), email, unknown_codes
                )
            )
        return all(within)

    def clean_parent_id_code(self) -> str:
        return clean_id_code(self.cleaned_data["parent_id_code"])

    def _clean_name(self, field: str) -> str:
        name = normalize_name(self.cleaned_data[field])
        if not name:
            raise ValidationError(self.fields[field].error_messages["required"], code="required")
        if not NAME_PATTERN.match(name):
            raise self._error("name_characters")
        if not _is_latin(name):
            raise self._error("name_not_latin")
        return name

    def clean_first_name(self) -> str:
        return self._clean_name("first_name")

    def clean_last_name(self) -> str:
        return self._clean_name("last_name")

    def clean_email(self) -> str:
        local, _at, domain = self.cleaned_data["email"].rpartition("@")
        return f"{local}@{domain.lower()}"

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        parent = cleaned.get("parent_id_code")
        if parent and parent in cleaned.get("child_id_codes", []):
            self.add_error("parent_id_code", self._error("parent_is_child"))
        return cleaned

    def applicant_data(self) -> ApplicantData:
        data = self.cleaned_data
        return ApplicantData(
            parent_id_code=data["parent_id_code"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data["email"],
            phone=data["phone"],
            child_id_codes=tuple(data["child_id_codes"]),
            identity_method=self.verified.method if self.verified else "",
            identity_verified_at=self.verified.verified_at if self.verified else "",
        )


class EmailConfirmationForm(forms.Form):
    """Step 2: the e-mail address typed again must be the one from step 1."""

    email_again = forms.EmailField(
        label=_("Type the same e-mail again"),
        max_length=254,
        validators=[validate_deliverable_email],
        # Django's own message speaks to the parent formally ("Sisestage …").
        error_messages={"invalid": EMAIL_INVALID},
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, expected_email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected_email = expected_email
        self.fields["email_again"].widget.attrs.pop("maxlength", None)

    def clean_email_again(self) -> str:
        typed = self.cleaned_data["email_again"]
        if typed.casefold() != self.expected_email.casefold():
            raise ValidationError(ERROR_MESSAGES["email_mismatch"], code="email_mismatch")
        return typed


class AnswerForm(forms.Form):
    """The parent's answer to the school's question, on the application's status page."""

    answer = forms.CharField(
        label=_("Your answer"),
        max_length=MAX_ANSWER_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("The school reads it with your application. Write no ID codes here."),
        error_messages={"required": _("Write your answer.")},
    )

    def clean_answer(self) -> str:
        answer = self.cleaned_data["answer"].replace("\r\n", "\n").strip()
        if has_control_characters(answer):
            raise ValidationError(
                _("The answer contains invisible control characters; please retype it."),
                code="control_characters",
            )
        return answer
