import unicodedata

from django import forms
from django.utils.translation import gettext_lazy as _

READY_REASONS = {
    "not_guardian": _("The school's records do not show you as the guardian of the child named."),
    "not_confirmed": _("The school could not confirm the data in the application."),
    "has_account": _(
        "You already have an account. If you have forgotten the password, order your access "
        "details by e-mail on the school's home page."
    ),
}


class RejectForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[*READY_REASONS.items(), ("other", _("Other (write it below)"))],
        widget=forms.RadioSelect,
    )
    details = forms.CharField(
        label=_("Explanation for the parent"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Sent to the parent in the e-mail. Required when the reason is “Other”."),
    )

    def clean_details(self) -> str:
        details = self.cleaned_data["details"].replace("\r\n", "\n")
        # Line breaks and tabs belong in a text; other control characters garble the e-mail.
        if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in details):
            raise forms.ValidationError(
                _("The explanation contains invisible control characters; please retype it."),
                code="control_characters",
            )
        return details

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean() or {}
        if cleaned.get("reason") == "other" and not cleaned.get("details", "").strip():
            self.add_error("details", _("Write the reason for the parent."))
        return cleaned
