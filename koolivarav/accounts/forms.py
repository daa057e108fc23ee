import unicodedata
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from koolivarav.schools.models import School
from koolivarav.schools.text import normalize_name

from .backends import login_identifier
from .models import User
from .phones import format_phone, normalize_phone
from .services import recovery_code_from, request_password_reset


class LoginForm(AuthenticationForm):
    """User name is the e-mail address or first and last name (see SchoolUserBackend)."""

    username = forms.CharField(
        label=_("E-mail or name"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        # One message for every failure, so the answer never tells whether the name exists.
        "invalid_login": _(
            "The user name or password is wrong. If the name fits more than one person, "
            "log in with your e-mail address. A temporary password from the school works only "
            "for a limited time: if yours has expired, order new access details by e-mail."
        ),
    }


class SchoolPasswordResetForm(PasswordResetForm):
    """Reset by e-mail address or name: checks only the shape of the text here; the worker
    finds the school's account it means (see `request_password_reset`)."""

    email = forms.CharField(  # type: ignore[assignment]
        label=_("Your e-mail or name"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )

    def clean_email(self) -> str:
        text = self.cleaned_data["email"]
        if any(unicodedata.category(ch) == "Cc" for ch in text) or not login_identifier(text):
            raise ValidationError(RESET_ERRORS["shape"], code="shape")
        if "@" in text:
            try:
                validate_email(text)
            except ValidationError:
                raise ValidationError(RESET_ERRORS["shape"], code="shape") from None
        return text

    def get_users(self, email: str) -> Any:
        # Django's own lookup (every school's users by e-mail) must never run here.
        return []

    def save(self, *, school: School, language: str) -> None:  # type: ignore[override]
        """Hand the request to the worker; the same work whoever the text means."""
        request_password_reset(
            school=school, identifier=self.cleaned_data["email"], language=language
        )


RESET_ERRORS = {
    "shape": _("Type an e-mail address, such as mari@example.ee, or your first and last name."),
}


PASSWORD_MAX_LENGTH = 1024

# Django's own password messages, reworded: the rule as the guide words it ("vähemalt 8
# sümbolit") and the parent spoken to as "sa", as everywhere else.
PASSWORD_ERRORS = {
    "password_too_short": _(
        "The password is too short: it must be at least %(min_length)d characters."
    ),
    "password_too_similar": _("The password is too similar to your name or e-mail address."),
    "password_too_common": _("This password is too common: choose one that is harder to guess."),
    "password_entirely_numeric": _("The password may not consist of digits only."),
}


def validate_new_password(password: str, user: User) -> None:
    """The settings' password validators, with our wording of each of their errors."""
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationError(
            [
                ValidationError(PASSWORD_ERRORS[e.code], code=e.code, params=e.params)
                if e.code in PASSWORD_ERRORS
                else e
                for e in error.error_list
            ]
        ) from None


def _new_password_fields() -> tuple[forms.CharField, forms.CharField]:
    """ "Salasõna:" and "Salasõna x2:" as on the profile page (SPEC step 6)."""
    first = forms.CharField(
        label=_("Password:"),
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "At least 8 characters. A long passphrase of several words is easier to remember "
            "and harder to guess."
        ),
    )
    again = forms.CharField(
        label=_("Password x2:"),
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("The same password again."),
    )
    return first, again


class SchoolSetPasswordForm(SetPasswordForm):
    """Setting a password from a reset link also ends the temporary-password state. The
    fields, rules and messages are the profile page's, not Django's own."""

    new_password1, new_password2 = _new_password_fields()

    error_messages = {"password_mismatch": _("The two passwords are not the same.")}

    def validate_password_for_user(
        self,
        user: Any,
        password_field_name: str = "password2",  # noqa: S107 - a field name
    ) -> None:
        password = self.cleaned_data.get(password_field_name)
        if password:
            try:
                validate_new_password(password, user)
            except ValidationError as error:
                self.add_error(password_field_name, error)

    def save(self, commit: bool = True) -> Any:
        self.user.must_change_password = False
        self.user.temporary_password_expires_at = None
        return super().save(commit=commit)


class ProfileForm(forms.ModelForm):
    """The profile page of SPEC step 6: phone, address, and a new password typed twice.

    Leaving both password fields empty keeps the password, except after logging in with a
    temporary password, when a new one must be set.
    """

    current_password = forms.CharField(
        label=_("Current password:"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Needed only when you change your password."),
    )
    password1, password2 = _new_password_fields()

    # Longer than the stored E.164 form: people type spaces and prefixes.
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=40,
        help_text=_("For example 5551 2345, or +358 40 123 4567 for a foreign number."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    address = forms.CharField(
        label=_("Address"),
        required=False,
        max_length=300,
        help_text=_("As in the example: Aia tn 5-12, Jõgeva linn, 48306 Jõgeva maakond"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = User
        fields = ["phone", "address"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forced = self.instance.must_change_password
        # Both new-password fields may stay empty, unless a new password must be set.
        self.fields["password1"].required = self.forced
        self.fields["password2"].required = self.forced
        if self.forced:
            # The temporary password was typed a moment ago; asking again helps nobody.
            del self.fields["current_password"]
        if self.instance.phone and not self.is_bound:
            self.initial["phone"] = format_phone(self.instance.phone)

    def clean_phone(self) -> str:
        text = self.cleaned_data["phone"].strip()
        return normalize_phone(text) if text else ""

    def clean_address(self) -> str:
        address = normalize_name(self.cleaned_data["address"])
        if any(unicodedata.category(ch) == "Cc" for ch in address):
            raise ValidationError(PROFILE_ERRORS["address_characters"], code="address_characters")
        return address

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        new, again = cleaned.get("password1", ""), cleaned.get("password2", "")
        if not new and not again:
            return cleaned
        if new != again:
            self.add_error(
                "password2", ValidationError(PROFILE_ERRORS["mismatch"], code="mismatch")
            )
            return cleaned
        if not self.forced and not self.instance.check_password(
            cleaned.get("current_password", "")
        ):
            self.add_error(
                "current_password",
                ValidationError(PROFILE_ERRORS["current_wrong"], code="current_wrong"),
            )
            return cleaned
        if self.instance.check_password(new):
            self.add_error("password1", ValidationError(PROFILE_ERRORS["same"], code="same"))
            return cleaned
        try:
            validate_new_password(new, self.instance)
        except ValidationError as error:
            self.add_error("password1", error)
        return cleaned

    @property
    def changes_password(self) -> bool:
        return bool(self.cleaned_data.get("password1"))


PROFILE_ERRORS = {
    "address_characters": _("The address may not contain control characters."),
    "mismatch": _("The two passwords are not the same."),
    "current_wrong": _("Your current password is not right."),
    "same": _("The new password must be different from the current one."),
}


class SecondFactorForm(forms.Form):
    """The six-digit code an authenticator app shows (spaces, as some apps group it, allowed);
    at login, one of the person's recovery codes instead (`accept_recovery_code`)."""

    code = forms.CharField(
        label=_("Code from the authenticator app"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )

    def __init__(self, *args: Any, accept_recovery_code: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accept_recovery_code = accept_recovery_code
        if accept_recovery_code:
            field = self.fields["code"]
            field.help_text = _(
                "Lost the phone? Type one of your recovery codes instead. Each recovery code "
                "works once."
            )
            # A phone's digits-only keyboard could not type a recovery code's letters.
            del field.widget.attrs["inputmode"]

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if len(code) == 6 and code.isascii() and code.isdigit():
            return code
        if self.accept_recovery_code:
            recovery_code = recovery_code_from(code)
            if recovery_code is not None:
                return recovery_code
            raise ValidationError(
                _("Type the six digits your authenticator app shows now, or a recovery code."),
                code="format",
            )
        raise ValidationError(
            _("Type the six digits your authenticator app shows now."), code="format"
        )
