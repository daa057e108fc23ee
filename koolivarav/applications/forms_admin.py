from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from koolivarav.schools.models import Student

from .services import MAX_QUESTION_LENGTH, ChildrenDecision, has_control_characters

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
        return _clean_text(self.cleaned_data["details"])

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean() or {}
        if cleaned.get("reason") == "other" and not cleaned.get("details", "").strip():
            self.add_error("details", _("Write the reason for the parent."))
        return cleaned

    def reason_in(self, language: str) -> str:
        """The reason as the parent reads it: the ready one in their language, then ours."""
        return _in_language(
            language, READY_REASONS, self.cleaned_data["reason"], self.cleaned_data["details"]
        )


def _in_language(language: str, ready: dict[str, Any], key: str, details: str) -> str:
    """A ready text (in the applicant's language) and the reviewer's own words after it."""
    with translation.override(language):
        parts = [str(ready[key])] if key in ready else []
    if details.strip():
        parts.append(details.strip())
    return " ".join(parts)


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n")
    # Line breaks and tabs belong in a text; other control characters garble the e-mail.
    if has_control_characters(text):
        raise forms.ValidationError(
            _("The explanation contains invisible control characters; please retype it."),
            code="control_characters",
        )
    return text


# Why a child is not added (the parent reads it in the e-mail).
CHILD_REASONS = {
    "not_guardian": _("The school's records do not show you as this child's guardian."),
    "not_confirmed": _("The school could not confirm the data in the application."),
}
ADD, DECLINE = "add", "decline"


class ChildrenDecisionForm(forms.Form):
    """The review's decision child by child: add, or not with a reason. Its fields are
    named after the students' ids (`child-7`, `reason-7`, `details-7`) and rendered one
    row per child in the review's table (change_form.html)."""

    def __init__(self, *args: Any, children: Iterable[Student], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.children = list(children)
        for child in self.children:
            self.fields[f"child-{child.pk}"] = forms.ChoiceField(
                label=child.full_name,
                choices=[(ADD, _("add")), (DECLINE, _("don't add"))],
                initial=ADD,
                widget=forms.RadioSelect,
            )
            self.fields[f"reason-{child.pk}"] = forms.ChoiceField(
                label=_("Why not"),
                choices=[("", "—"), *CHILD_REASONS.items(), ("other", _("other (write it)"))],
                required=False,
            )
            self.fields[f"details-{child.pk}"] = forms.CharField(
                label=_("Explanation for the parent"), required=False, max_length=500
            )

    def rows(self) -> list[dict[str, Any]]:
        """Per child: the student and its three bound fields, for the table."""
        return [
            {
                "child": child,
                "decision": self[f"child-{child.pk}"],
                "reason": self[f"reason-{child.pk}"],
                "details": self[f"details-{child.pk}"],
            }
            for child in self.children
        ]

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean() or {}
        added = 0
        for child in self.children:
            details_field = f"details-{child.pk}"
            try:
                cleaned[details_field] = _clean_text(cleaned.get(details_field, ""))
            except forms.ValidationError as error:
                self.add_error(details_field, error)
            if cleaned.get(f"child-{child.pk}") == DECLINE:
                reason = cleaned.get(f"reason-{child.pk}")
                if not reason or (reason == "other" and not cleaned.get(details_field, "").strip()):
                    self.add_error(
                        f"reason-{child.pk}",
                        _("Say why %(child)s is not added.") % {"child": child.full_name},
                    )
            else:
                added += 1
        if not added and not self.errors:
            raise forms.ValidationError(
                _(
                    "No child is marked to be added. To turn the whole application down, "
                    "use Reject."
                ),
                code="nothing_added",
            )
        return cleaned

    def decision(self, *, language: str) -> ChildrenDecision:
        """The valid form as the service takes it, reasons in the applicant's language."""
        added, declined = [], {}
        for child in self.children:
            if self.cleaned_data[f"child-{child.pk}"] == ADD:
                added.append(child.pk)
            else:
                declined[child.pk] = _in_language(
                    language,
                    CHILD_REASONS,
                    self.cleaned_data[f"reason-{child.pk}"],
                    self.cleaned_data[f"details-{child.pk}"],
                )
        return ChildrenDecision(added=added, declined=declined)


# Questions a secretary asks most; the parent reads them in the e-mail and on the status page.
READY_QUESTIONS = {
    "custody": _("Please send a copy of the custody decision to the school's office."),
    "guardian_document": _(
        "Please send the school's office a document that shows you are the child's guardian."
    ),
    "call": _("Please call the school's office about your application."),
}


class AskForm(forms.Form):
    question = forms.ChoiceField(
        label=_("Question"),
        choices=[*READY_QUESTIONS.items(), ("other", _("Other (write it below)"))],
        widget=forms.RadioSelect,
    )
    details = forms.CharField(
        label=_("Your own words"),
        required=False,
        max_length=MAX_QUESTION_LENGTH - 200,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Added after the question. The parent reads it in an e-mail and on the "
            "application's page: write no ID codes. Required when the question is “Other”."
        ),
    )

    def clean_details(self) -> str:
        return _clean_text(self.cleaned_data["details"])

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean() or {}
        if cleaned.get("question") == "other" and not cleaned.get("details", "").strip():
            self.add_error("details", _("Write the question for the parent."))
        return cleaned

    def question_in(self, language: str) -> str:
        return _in_language(
            language, READY_QUESTIONS, self.cleaned_data["question"], self.cleaned_data["details"]
        )
