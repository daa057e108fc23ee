from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


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
            "log in with your e-mail address."
        ),
    }
