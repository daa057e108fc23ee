from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .backends import SchoolUserBackend
from .models import User


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
    """Reset by e-mail address or name, among the request's school's users only."""

    email = forms.CharField(  # type: ignore[assignment]
        label=_("Your e-mail or name"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )

    request: HttpRequest | None = None

    def get_users(self, email: str) -> Any:
        if self.request is None:
            return []
        users = SchoolUserBackend().candidates(request=self.request, username=email)
        # Operators reset their password by other means; only the school's users get links.
        return [
            user
            for user in users
            if user.school_id is not None and user.is_active and user.has_usable_password()
        ]

    def save(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.request = kwargs.get("request")
        super().save(**kwargs)


__all__ = ["LoginForm", "SchoolPasswordResetForm", "User"]
