from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from koolivarav.schools.admin import SchoolScopedAdmin

from .addresses import validate_deliverable_email
from .kinds import KIND_NAMES, kind_name
from .models import Email
from .services import correct_recipient, recipient_can_be_corrected, retry_email, text_of


class KindFilter(admin.SimpleListFilter):
    """The kinds of e-mail in words, the most common first (those the school has sent)."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted(((kind, kind_name(kind)) for kind in KIND_NAMES), key=lambda kv: kv[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Email]) -> QuerySet[Email]:
        return queryset.filter(kind=self.value()) if self.value() else queryset


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
    list_display = ["created_at", "kind_in_words", "recipient", "status_and_attempts"]
    list_filter = ["status", KindFilter, "created_at"]
    search_fields = ["to_address"]
    list_per_page = 50
    fields = (
        "kind_in_words", "to_address", "subject", "text_as_sent", "language", "status",
        "attempts", "last_error", "created_at", "next_attempt_at", "sent_at", "message_id",
    )  # fmt: skip
    # Everything but the address; without change permission Django shows that read-only too.
    readonly_fields = [field for field in fields if field != "to_address"]
    actions = ["retry"]

    @admin.display(description=_("kind"), ordering="kind")
    def kind_in_words(self, obj: Email) -> str:
        return kind_name(obj.kind)

    @admin.display(description=_("to"), ordering="to_address")
    def recipient(self, obj: Email) -> str:
        # A long address breaks after its "@", not at any letter.
        local, at, domain = obj.to_address.rpartition("@")
        if not at:
            return obj.to_address or self.get_empty_value_display()
        return format_html("{}@<wbr>{}", local, domain)

    @admin.display(description=_("status"), ordering="status")
    def status_and_attempts(self, obj: Email) -> str:
        if obj.status == Email.Status.FAILED:
            failed = ngettext(
                "failed after %(count)d attempt", "failed after %(count)d attempts", obj.attempts
            ) % {"count": obj.attempts}
            # Why, in the mail server's or the worker's words (never an address: _describe).
            error = Truncator(obj.last_error).chars(120)
            return format_html('{}<br><span class="email-error">{}</span>', failed, error)
        if obj.status == Email.Status.QUEUED and obj.attempts:
            return ngettext(
                "queued again after %(count)d attempt",
                "queued again after %(count)d attempts",
                obj.attempts,
            ) % {"count": obj.attempts}
        if obj.status == Email.Status.SENT and obj.sent_at:
            when = formats.localize(timezone.localtime(obj.sent_at))
            return format_html(
                '{}<br><span class="email-when">{}</span>', obj.get_status_display(), when
            )
        return str(obj.get_status_display())

    @admin.display(description=_("text"))
    def text_as_sent(self, obj: Email) -> str:
        text, as_sent = text_of(obj)
        if not text:
            return self.get_empty_value_display()
        if as_sent:
            note = _("As it was sent; a temporary password or a link that works is shown masked.")
        elif obj.status == Email.Status.SENT:  # sent before the text was kept (issue 14)
            note = _(
                "Sent before its text was kept: the text it would have now, with a temporary "
                "password or a link masked."
            )
        else:
            note = _("Not sent: the text it has now, with a temporary password or a link masked.")
        return format_html(
            '<pre class="email-text">{}</pre><p class="email-text-note">{}</p>', text, note
        )

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
