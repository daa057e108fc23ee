from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from koolivarav.schools.admin import CappedCountPaginator, SchoolScopedAdmin

from .forms_admin import READY_REASONS, RejectForm
from .models import HELD_BACK, Application
from .selectors import REVIEW_ORDER, conflicting_applications, match_card, review_queue
from .services import (
    AddressNotConfirmed,
    AlreadyDecided,
    EmailBelongsToAnotherAccount,
    approve_application,
    reject_application,
)


class AddressConfirmationFilter(admin.SimpleListFilter):
    """The queue leaves out applications held back until their address is confirmed; this
    filter shows them (an office may want to see that a parent has applied)."""

    title = _("e-mail address")
    parameter_name = "address"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("unconfirmed", _("not confirmed yet (held back)"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "unconfirmed":
            return queryset.filter(HELD_BACK)
        return queryset.exclude(HELD_BACK)


@admin.register(Application)
class ApplicationAdmin(SchoolScopedAdmin):
    """The review queue: pending applications first, each with what the records say."""

    list_display = [
        "created_at", "applicant", "email", "children_list", "identity", "conflict", "status",
        "decided_at",
    ]  # fmt: skip
    list_display_links = ["created_at", "applicant"]
    list_filter = ["status", AddressConfirmationFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["first_name", "last_name", "email"]
    id_code_field = "parent_id_code"  # found by a POSTed form, never in a web address
    list_per_page = 50
    show_full_result_count = False
    actions = ["approve_selected", "reject_selected"]
    change_form_template = "admin/applications/application/change_form.html"
    fields = [
        "status", "identity", "match", "conflicts", "first_name", "last_name", "parent_id_code",
        "email", "phone", "language", "created_at", "email_confirmed_at", "updated_at",
        "decided_by", "decided_at", "rejection_reason", "account",
    ]  # fmt: skip
    readonly_fields = tuple(fields)  # type: ignore[arg-type]

    ordering = REVIEW_ORDER  # type: ignore[assignment]
    paginator = CappedCountPaginator

    def get_queryset(self, request: HttpRequest) -> QuerySet[Application]:
        return review_queue(super().get_queryset(request)).select_related("decided_by")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # applications come from parents

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decisions are kept; the retention purge removes old rejected ones

    @admin.display(description=_("applicant"), ordering="last_name")
    def applicant(self, obj: Application) -> str:
        return f"{obj.first_name} {obj.last_name}"

    @admin.display(description=_("children"))
    def children_list(self, obj: Application) -> str:
        return ", ".join(
            f"{c.first_name} {c.last_name} ({c.class_name})" for c in obj.children.all()
        )

    @admin.display(description=_("identity"))
    def identity(self, obj: Application) -> str:
        """ "identity verified: Smart-ID, 29.11.2026 10:12", and the records' word on it."""
        if not obj.is_verified:
            return gettext("typed in by the applicant")
        assert obj.identity_verified_at is not None  # noqa: S101 - is_verified says so
        verified = gettext("identity verified: %(method)s, %(when)s") % {
            "method": obj.get_identity_method_display(),
            "when": formats.date_format(
                timezone.localtime(obj.identity_verified_at), "d.m.Y H:i"
            ),
        }
        if obj.listed_as_guardian:
            return format_html(
                '{}<br><strong class="records-match">{}</strong>',
                verified,
                gettext("verified, listed as guardian"),
            )
        return verified

    @admin.display(description=_("conflict"))
    def conflict(self, obj: Application) -> str:
        if obj.status == Application.Status.PENDING and getattr(obj, "in_conflict", False):
            return format_html(
                '<strong class="conflict">{}</strong>',
                gettext("another application with this parent's ID code"),
            )
        return ""

    @admin.display(description=_("other applications with this parent's ID code"))
    def conflicts(self, obj: Application) -> str:
        others = conflicting_applications(obj)
        if not others:
            return gettext("none")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:applications_application_change", args=[other.pk]),
                    formats.date_format(
                        timezone.localtime(other.created_at), "SHORT_DATETIME_FORMAT"
                    ),
                    other.first_name,
                    other.last_name,
                    other.email,
                    other.phone,
                    self.children_list(other),
                )
                for other in others
            ),
        )
        return format_html(
            '<p class="conflict"><strong>{}</strong></p>'
            '<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th>'
            '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead>'
            "<tbody>"
            '<tr class="this-application"><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>"
            "{}</tbody></table>",
            gettext(
                "Someone else may be applying in this parent's name: these applications give "
                "the same parent's ID code with another e-mail address or phone. Only one "
                "of them can be the parent's. Approve the one you have checked (e.g. by phone "
                "with the number the school already has) and reject the others; approving "
                "sends the login details to the approved application's e-mail address."
            ),
            gettext("submitted"),
            gettext("applicant"),
            gettext("e-mail"),
            gettext("phone"),
            gettext("children"),
            gettext("this application"),
            obj.first_name,
            obj.last_name,
            obj.email,
            obj.phone,
            self.children_list(obj),
            rows,
        )

    @admin.display(description=_("what the school's records say"))
    def match(self, obj: Application) -> str:
        card = match_card(obj)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    m.student.id_code,
                    m.student.first_name,
                    m.student.last_name,
                    m.student.class_name,
                    gettext("yes") if m.parent_is_known_guardian else gettext("no"),
                )
                for m in card.children
            ),
        )
        account: str
        if card.existing_account is not None:
            url = reverse("admin:accounts_user_change", args=[card.existing_account.pk])
            account = format_html(
                '{} <a href="{}">{}</a>',
                gettext(
                    "The parent already has an account here; approving links the children to it:"
                ),
                url,
                card.existing_account.email,
            )
        elif card.email_in_use_by_other:
            account = gettext(
                "Another account of this school uses this e-mail address: "
                "the application cannot be approved until that is sorted out."
            )
        else:
            account = gettext("The parent has no account here yet; approving creates one.")
        return format_html(
            '<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th>'
            '<th scope="col">{}</th><th scope="col">{}</th></tr></thead>'
            "<tbody>{}</tbody></table><p>{}</p>",
            gettext("ID code"),
            gettext("student"),
            gettext("class"),
            gettext("parent in the school's records"),
            rows,
            account,
        )

    # --- decisions ------------------------------------------------------------------------

    def _tell_already_decided(self, request: HttpRequest, application: Application) -> None:
        self.message_user(
            request,
            gettext("%(name)s: already decided by someone else.") % {"name": application},
            messages.WARNING,
        )

    def _approve(self, request: HttpRequest, application: Application) -> bool:
        try:
            approve_application(application_id=application.pk, decided_by=request.user)  # type: ignore[arg-type]
        except AlreadyDecided:
            self._tell_already_decided(request, application)
            return False
        except AddressNotConfirmed:
            self.message_user(
                request,
                gettext(
                    "%(name)s: the applicant has not confirmed the e-mail address yet; "
                    "not approved."
                )
                % {"name": application},
                messages.ERROR,
            )
            return False
        except EmailBelongsToAnotherAccount:
            self.message_user(
                request,
                gettext("%(name)s: the e-mail address belongs to another account; not approved.")
                % {"name": application},
                messages.ERROR,
            )
            return False
        return True

    @admin.action(description=_("Approve the selected applications"))
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        pending = list(review_queue(queryset.filter(status=Application.Status.PENDING)))
        # An application beside another one for the same parent is decided one at a time,
        # with both side by side, never in a bulk approval.
        in_conflict = [a for a in pending if getattr(a, "in_conflict", False)]
        approved = sum(
            self._approve(request, application)
            for application in pending
            if not getattr(application, "in_conflict", False)
        )
        if in_conflict:
            self.message_user(
                request,
                ngettext(
                    "%(count)d application was not approved: another application gives the "
                    "same parent's ID code with other contact data. Open it to compare them.",
                    "%(count)d applications were not approved: other applications give the "
                    "same parent's ID code with other contact data. Open them to compare.",
                    len(in_conflict),
                )
                % {"count": len(in_conflict)},
                messages.WARNING,
            )
        self.message_user(
            request,
            ngettext(
                "%(count)d application approved; the e-mail is on its way.",
                "%(count)d applications approved; the e-mails are on their way.",
                approved,
            )
            % {"count": approved},
            messages.SUCCESS,
        )

    @admin.action(description=_("Reject the selected applications…"))
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[Application]
    ) -> HttpResponse | None:
        pending = queryset.filter(status=Application.Status.PENDING)
        if "apply_reject" in request.POST:
            form = RejectForm(request.POST)
            if form.is_valid():
                rejected = sum(self._reject(request, a, form) for a in pending)
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d application rejected.",
                        "%(count)d applications rejected.",
                        rejected,
                    )
                    % {"count": rejected},
                    messages.SUCCESS,
                )
                return None
        else:
            form = RejectForm()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reject applications"),
            "opts": self.model._meta,
            "form": form,
            "applications": pending,
            "action": "reject_selected",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/applications/application/reject.html", context)

    def _reject(self, request: HttpRequest, application: Application, form: RejectForm) -> bool:
        with translation.override(application.language):
            reason_key = form.cleaned_data["reason"]
            parts = [str(READY_REASONS[reason_key])] if reason_key in READY_REASONS else []
            if form.cleaned_data["details"].strip():
                parts.append(form.cleaned_data["details"].strip())
        try:
            reject_application(
                application_id=application.pk,
                decided_by=request.user,  # type: ignore[arg-type]
                reason=" ".join(parts),
            )
        except AlreadyDecided:
            self._tell_already_decided(request, application)
            return False
        return True

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # Nothing on an application is edited by hand: no save or delete buttons, only the
        # decisions below the form.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete_link": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="applications_application_approve",
            ),
            *super().get_urls(),
        ]

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST" or not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:applications_application_changelist"))
        application = get_object_or_404(self.get_queryset(request), pk=pk)
        if self._approve(request, application):
            self.message_user(
                request,
                gettext("%(name)s: approved; the e-mail is on its way.") % {"name": application},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:applications_application_change", args=[pk]))
