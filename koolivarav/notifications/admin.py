from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from koolivarav.schools.admin import SchoolScopedAdmin

from .addresses import validate_deliverable_email
from .models import Email
from .services import correct_recipient, recipient_can_be_corrected, retry_email


class EmailCorrectionForm(forms.ModelForm):
    """The one thing an administrator changes on an e-mail: the address of a failed one."""

    class Meta:
        model = Email
        fields = ["to_address"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "to_address" in self.fields:
            self.fields["to_address"].validators.append(validate_deliverable_email)


@admin.register(Email)
class EmailAdmin(SchoolScopedAdmin):
    """What the school's e-mails are doing: queued, sent, or failed and why. Written by the
    worker only; an administrator may correct the address of a failed e-mail and send it again.
    """

    form = EmailCorrectionForm
    list_display = [
        "created_at",
        "kind",
        "to_address",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "kind", "created_at"]
    search_fields = ["to_address"]
    list_per_page = 50
    fields = (
        "kind", "to_address", "subject", "language", "status", "attempts", "last_error",
        "created_at", "next_attempt_at", "sent_at", "message_id",
    )  # fmt: skip
    # Everything but the address; without change permission Django shows that read-only too.
    readonly_fields = [field for field in fields if field != "to_address"]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or (isinstance(obj, Email) and recipient_can_be_corrected(obj))

    def save_model(self, request: HttpRequest, obj: Email, form: Any, change: bool) -> None:
        if not correct_recipient(email=obj, to_address=form.cleaned_data["to_address"]):
            self.message_user(
                request,
                _("The e-mail is no longer failed: its address was not changed."),
                messages.WARNING,
            )

    def response_change(self, request: HttpRequest, obj: Email) -> HttpResponse:
        self.message_user(
            request,
            _(
                "To send the e-mail to the corrected address, select it in the list and "
                "choose “Send the selected failed e-mails again”."
            ),
            messages.INFO,
        )
        return super().response_change(request, obj)

    @admin.action(description=_("Send the selected failed e-mails again"))
    def retry(self, request: HttpRequest, queryset: QuerySet[Email]) -> None:
        failed = list(queryset.filter(status=Email.Status.FAILED))
        for email in failed:
            retry_email(email=email)
        self.message_user(
            request,
            ngettext(
                "%(count)d e-mail queued again.", "%(count)d e-mails queued again.", len(failed)
            )
            % {"count": len(failed)},
            messages.SUCCESS,
        )
