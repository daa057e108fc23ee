from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from koolivarav.schools.admin import ReadOnlySchoolScopedAdmin

from .models import Email
from .services import retry_email


@admin.register(Email)
class EmailAdmin(ReadOnlySchoolScopedAdmin):
    """What the school's e-mails are doing: queued, sent, or failed and why."""

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
    readonly_fields = [
        "kind", "to_address", "subject", "language", "status", "attempts", "last_error",
        "created_at", "next_attempt_at", "sent_at", "message_id",
    ]  # fmt: skip
    fields = tuple(readonly_fields)
    actions = ["retry"]

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
