import copy
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from koolivarav.schools.admin import CappedCountPaginator, SchoolScopedAdmin
from koolivarav.schools.models import IdentityMethod

from .forms_admin import AskForm, ChildrenDecisionForm, RejectForm
from .models import HELD_BACK, Application
from .selectors import (
    REVIEW_ORDER,
    Records,
    conflicting_applications,
    failed_emails_of,
    last_question,
    match_card,
    next_to_review,
    review_queue,
)
from .services import (
    AddressNotConfirmed,
    AlreadyDecided,
    ChildrenChanged,
    ChildrenDecision,
    EmailBelongsToAnotherAccount,
    QuestionAlreadyOpen,
    approve_application,
    ask_parent,
    reject_application,
)


def _when(moment: datetime | None) -> str:
    """ "29.11.2026 10:09": short enough for a column, the way Estonians write it."""
    if moment is None:
        return ""
    return formats.date_format(timezone.localtime(moment), "d.m.Y H:i")


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


class RecordsFilter(admin.SimpleListFilter):
    """What the school's records say (see selectors.Records), pending applications only:
    a decided application needs no such look."""

    title = _("school's records list the parent for")
    parameter_name = "records"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(Records.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in Records.values:
            return queryset.filter(status=Application.Status.PENDING, records=self.value())
        return queryset


class IdentityFilter(admin.SimpleListFilter):
    title = _("identity")
    parameter_name = "identity"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("typed", _("typed in by the applicant")),
            ("verified", _("verified (any way)")),
            *((f"verified-{value}", label) for value, label in IdentityMethod.choices),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value() or ""
        if value == "typed":
            return queryset.filter(identity_method="")
        if value == "verified":
            return queryset.exclude(identity_method="")
        if value.startswith("verified-") and value[9:] in IdentityMethod.values:
            return queryset.filter(identity_method=value[9:])
        return queryset


class QuestionFilter(admin.SimpleListFilter):
    title = _("question to the parent")
    parameter_name = "question"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("to_decide", _("none open: to decide")),
            (Application.QuestionState.ASKED, _("waiting for the parent")),
            (Application.QuestionState.ANSWERED, _("answered")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        pending = queryset.filter(status=Application.Status.PENDING)
        if self.value() == "to_decide":
            return pending.exclude(question_state=Application.QuestionState.ASKED)
        if self.value() in (Application.QuestionState.ASKED, Application.QuestionState.ANSWERED):
            return pending.filter(question_state=self.value())
        return queryset


@admin.register(Application)
class ApplicationAdmin(SchoolScopedAdmin):
    """The review queue: pending applications first, each with what the records say."""

    list_display = ["submitted", "applicant", "children_list", "records", "identity", "state"]
    list_display_links = ["submitted", "applicant"]
    list_filter = [
        "status", QuestionFilter, RecordsFilter, IdentityFilter, AddressConfirmationFilter,
        ("created_at", admin.DateFieldListFilter),
    ]  # fmt: skip
    search_fields = ["first_name", "last_name", "email"]
    id_code_field = "parent_id_code"  # found by a POSTed form, never in a web address
    list_per_page = 50
    show_full_result_count = False
    # Counts beside every filter's choices would count the whole table: not at a million.
    show_facets = admin.ShowFacets.NEVER
    actions = ["approve_matching", "approve_selected", "reject_selected"]
    change_form_template = "admin/applications/application/change_form.html"
    # The decision (the match card, the buttons, a question) comes first, in the template;
    # these read-only details after it.
    fields = [
        "status", "identity", "first_name", "last_name", "parent_id_code", "email", "phone",
        "language", "created_at", "email_confirmed_at", "updated_at", "decided_by",
        "decided_at", "rejection_reason", "account",
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

    class Media:
        css = {"all": ["css/admin-review.css"]}

    @admin.display(description=_("submitted"), ordering="created_at")
    def submitted(self, obj: Application) -> str:
        return format_html('<span class="nowrap">{}</span>', _when(obj.created_at))

    @admin.display(description=_("parent"), ordering="last_name")
    def applicant(self, obj: Application) -> str:
        return format_html(
            '{} {}<br><span class="quiet">{}</span>', obj.first_name, obj.last_name, obj.email
        )

    @admin.display(description=_("children"))
    def children_list(self, obj: Application) -> str:
        return format_html_join(
            mark_safe("<br>"),  # nosec B308 B703 - a constant
            '<span class="nowrap">{} {} ({})</span>',
            ((c.first_name, c.last_name, c.class_name) for c in obj.children.all()),
        )

    @admin.display(description=_("school's records"))
    def records(self, obj: Application) -> str:
        """In words, with a colour and a sign beside them: never the colour alone."""
        value = getattr(obj, "records", Records.NONE)
        sign = {Records.ALL: "✔", Records.SOME: "◐", Records.NONE: "✘"}[Records(value)]
        return format_html(
            '<span class="records records-{}"><span aria-hidden="true">{}</span> {}</span>',
            value,
            sign,
            Records(value).label,
        )

    @admin.display(description=_("state"))
    def state(self, obj: Application) -> str:
        """The state in words, with what needs a look: another application for the same
        parent, a question waiting, an e-mail that did not arrive."""
        notes: list[str] = []
        if obj.status == Application.Status.PENDING:
            if obj.is_held_back:
                line = gettext("e-mail address not confirmed yet")
            elif obj.question_state == Application.QuestionState.ASKED:
                line = gettext("waiting for the parent's answer")
            elif obj.question_state == Application.QuestionState.ANSWERED:
                line = gettext("answered: to decide")
            else:
                line = gettext("to decide")
            if getattr(obj, "in_conflict", False):
                notes.append(gettext("another application with this parent's ID code"))
        else:
            line = f"{obj.get_status_display()} {_when(obj.decided_at)}"
            decisions = list(obj.child_decisions.all())
            added = sum(d.approved for d in decisions)
            if obj.status == Application.Status.APPROVED and added < len(decisions):
                line = gettext("approved %(added)d of %(count)d children %(when)s") % {
                    "added": added,
                    "count": len(decisions),
                    "when": _when(obj.decided_at),
                }
        if getattr(obj, "email_failed", False):
            notes.append(gettext("an e-mail to the parent was not delivered"))
        return format_html(
            '<span class="state state-{}">{}</span>{}',
            obj.question_state if obj.status == Application.Status.PENDING else obj.status,
            line,
            format_html_join("", '<br><strong class="flag">⚠ {}</strong>', ((n,) for n in notes)),
        )

    @admin.display(description=_("identity"))
    def identity(self, obj: Application) -> str:
        """ "identity verified: Smart-ID, 29.11.2026 10:12", and the records' word on it."""
        if not obj.is_verified:
            return gettext("typed in by the applicant")
        assert obj.identity_verified_at is not None  # noqa: S101 - is_verified says so
        verified = gettext("identity verified: %(method)s, %(when)s") % {
            "method": obj.get_identity_method_display(),
            "when": formats.date_format(timezone.localtime(obj.identity_verified_at), "d.m.Y H:i"),
        }
        if obj.listed_as_guardian:
            return format_html(
                '{}<br><strong class="records-match">{}</strong>',
                verified,
                gettext("verified, listed as guardian"),
            )
        return verified

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

    # --- decisions ------------------------------------------------------------------------

    def _tell_already_decided(self, request: HttpRequest, application: Application) -> None:
        self.message_user(
            request,
            gettext("%(name)s: already decided by someone else.") % {"name": application},
            messages.WARNING,
        )

    def _approve(
        self,
        request: HttpRequest,
        application: Application,
        children: ChildrenDecision | None = None,
    ) -> bool:
        try:
            approve_application(
                application_id=application.pk,
                decided_by=request.user,  # type: ignore[arg-type]
                children=children,
            )
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
        except ChildrenChanged:
            self.message_user(
                request,
                gettext(
                    "%(name)s: the parent changed the children on the application meanwhile; "
                    "nothing was decided. Look at it again."
                )
                % {"name": application},
                messages.WARNING,
            )
            return False
        return True

    @admin.action(description=_("Approve those whose records match (every child)"))
    def approve_matching(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        """Approve, of the selected, only those the school's records back in full: the
        records list the parent as the guardian of every child, and no other application
        names the same parent. The rest wait for a closer look, and the message says how
        many."""
        selected = list(review_queue(queryset.filter(status=Application.Status.PENDING)))
        matching = [
            a
            for a in selected
            if a.records == Records.ALL and not a.in_conflict and not a.is_held_back  # type: ignore[attr-defined]
        ]
        approved = sum(self._approve(request, application) for application in matching)
        self.message_user(
            request,
            ngettext(
                "%(count)d application approved: the school's records list the parent as the "
                "guardian of every child.",
                "%(count)d applications approved: the school's records list the parent as the "
                "guardian of every child.",
                approved,
            )
            % {"count": approved},
            messages.SUCCESS,
        )
        left = len(selected) - approved
        if left:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected application was left for a closer look.",
                    "%(count)d selected applications were left for a closer look.",
                    left,
                )
                % {"count": left},
                messages.WARNING,
            )

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
        try:
            reject_application(
                application_id=application.pk,
                decided_by=request.user,  # type: ignore[arg-type]
                reason=form.reason_in(application.language),
            )
        except AlreadyDecided:
            self._tell_already_decided(request, application)
            return False
        return True

    # --- one application after another ------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # Nothing on an application is edited by hand: no save or delete buttons. The page
        # is the review: the decision first (review_context), the details after.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete_link": False,
        }
        application = self.get_object(request, object_id)
        if application is not None and "review" not in extra_context:
            extra_context.update(self.review_context(request, application))
        return super().change_view(request, object_id, form_url, extra_context)

    def review_context(
        self,
        request: HttpRequest,
        application: Application,
        children_form: ChildrenDecisionForm | None = None,
    ) -> dict[str, Any]:
        """What the review page shows above the details: the records' word on each child
        (with the decision for each, when there are several), the account, the other
        applications for the same parent, the question and answer, undelivered e-mails."""
        card = match_card(application)
        pending = application.status == Application.Status.PENDING
        if children_form is None and pending:
            children_form = ChildrenDecisionForm(children=[m.student for m in card.children])
        listed = {m.student.pk: m.parent_is_known_guardian for m in card.children}
        rows: list[dict[str, Any]] = (
            [{**row, "listed": listed[row["child"].pk]} for row in children_form.rows()]
            if children_form is not None
            else [{"child": m.student, "listed": m.parent_is_known_guardian} for m in card.children]
        )
        decisions = {d.student_id: d for d in application.child_decisions.all()}
        for row in rows:
            row["decided"] = decisions.get(row["child"].pk)
        next_application = next_to_review(self.get_queryset(request), after=application)
        return {
            "title": gettext("Application of %(name)s") % {"name": application},
            "subtitle": None,
            "review": True,
            "card": card,
            "rows": rows,
            "children_form": children_form,
            "per_child": len(rows) > 1,
            "account_note": self._account_note(card),
            "conflicts": self.conflicts(application)
            if pending and conflicting_applications(application)
            else "",
            "question": last_question(application),
            "failed_emails": failed_emails_of(application),
            "next_application": next_application,
            "changelist_url": reverse("admin:applications_application_changelist"),
        }

    def _account_note(self, card: Any) -> str:
        if card.existing_account is not None:
            url = reverse("admin:accounts_user_change", args=[card.existing_account.pk])
            return format_html(
                '{} <a href="{}">{}</a>',
                gettext(
                    "The parent already has an account here; approving links the children to it:"
                ),
                url,
                card.existing_account.email,
            )
        if card.email_in_use_by_other:
            return gettext(
                "Another account of this school uses this e-mail address: "
                "the application cannot be approved until that is sorted out."
            )
        return gettext("The parent has no account here yet; approving creates one.")

    def _review_again(
        self, request: HttpRequest, application: Application, form: ChildrenDecisionForm
    ) -> HttpResponse:
        """The review page again, with the reviewer's choices and the form's errors: a GET
        of the page (a POST to it would save the change form)."""
        again = copy.copy(request)
        again.method = "GET"
        again.POST = QueryDict()
        context = self.review_context(request, application, children_form=form)
        return self.change_view(again, str(application.pk), extra_context=context)

    def _next(self, request: HttpRequest, application: Application) -> HttpResponse:
        """After a decision: the next application waiting in the queue, or the list."""
        following = next_to_review(self.get_queryset(request), after=application)
        if following is None:
            self.message_user(
                request, gettext("No other application is waiting for a decision."), messages.INFO
            )
            return HttpResponseRedirect(reverse("admin:applications_application_changelist"))
        return HttpResponseRedirect(
            reverse("admin:applications_application_change", args=[following.pk])
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="applications_application_approve",
            ),
            path(
                "<int:pk>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="applications_application_reject",
            ),
            path(
                "<int:pk>/ask/",
                self.admin_site.admin_view(self.ask_view),
                name="applications_application_ask",
            ),
            *super().get_urls(),
        ]

    def _pending_or_redirect(
        self, request: HttpRequest, pk: int
    ) -> tuple[Application | None, HttpResponse | None]:
        if not self.has_change_permission(request):
            return None, HttpResponseRedirect(reverse("admin:applications_application_changelist"))
        application = get_object_or_404(self.get_queryset(request), pk=pk)
        if application.status != Application.Status.PENDING:
            self._tell_already_decided(request, application)
            return None, HttpResponseRedirect(
                reverse("admin:applications_application_change", args=[pk])
            )
        return application, None

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The review's Approve: every child, or as the per-child choices say."""
        if request.method != "POST" or not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:applications_application_changelist"))
        application = get_object_or_404(self.get_queryset(request), pk=pk)
        children = None
        if any(name.startswith("child-") for name in request.POST):
            form = ChildrenDecisionForm(request.POST, children=application.children.all())
            if not form.is_valid():
                if application.status != Application.Status.PENDING:
                    self._tell_already_decided(request, application)
                    return self._next(request, application)
                return self._review_again(request, application, form)
            children = form.decision(language=application.language)
        if not self._approve(request, application, children):
            if Application.objects.filter(pk=pk, status=Application.Status.PENDING).exists():
                return HttpResponseRedirect(
                    reverse("admin:applications_application_change", args=[pk])
                )
            return self._next(request, application)  # someone else decided it
        if children is not None and children.declined:
            message = ngettext(
                "%(name)s: approved, %(count)d child not added; the e-mails are on their way.",
                "%(name)s: approved, %(count)d children not added; the e-mails are on their way.",
                len(children.declined),
            ) % {"name": application, "count": len(children.declined)}
        else:
            message = gettext("%(name)s: approved; the e-mail is on its way.") % {
                "name": application
            }
        self.message_user(request, message, messages.SUCCESS)
        return self._next(request, application)

    def reject_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Reject one application with a reason, then on to the next."""
        application, redirect = self._pending_or_redirect(request, pk)
        if redirect is not None or application is None:
            return redirect  # type: ignore[return-value]
        form = RejectForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            if self._reject(request, application, form):
                self.message_user(
                    request,
                    gettext("%(name)s: rejected; the parent is told the reason by e-mail.")
                    % {"name": application},
                    messages.SUCCESS,
                )
            return self._next(request, application)
        return self._decision_form(
            request,
            application,
            form,
            title=gettext("Reject the application of %(name)s") % {"name": application},
            intro=gettext(
                "The parent is told the reason by e-mail, in the language they applied in."
            ),
            submit=gettext("Reject"),
        )

    def ask_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Ask the parent a question; the application waits for the answer."""
        application, redirect = self._pending_or_redirect(request, pk)
        if redirect is not None or application is None:
            return redirect  # type: ignore[return-value]
        form = AskForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                ask_parent(
                    application_id=application.pk,
                    asked_by=request.user,  # type: ignore[arg-type]
                    question=form.question_in(application.language),
                )
            except AlreadyDecided:
                self._tell_already_decided(request, application)
            except QuestionAlreadyOpen:
                self.message_user(
                    request,
                    gettext("%(name)s: the parent has not answered the last question yet.")
                    % {"name": application},
                    messages.WARNING,
                )
                return HttpResponseRedirect(
                    reverse("admin:applications_application_change", args=[pk])
                )
            except AddressNotConfirmed:
                self.message_user(
                    request,
                    gettext(
                        "%(name)s: the applicant has not confirmed the e-mail address yet; "
                        "no question was sent."
                    )
                    % {"name": application},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    gettext(
                        "%(name)s: the question is on its way; the application waits for the "
                        "answer."
                    )
                    % {"name": application},
                    messages.SUCCESS,
                )
            return self._next(request, application)
        return self._decision_form(
            request,
            application,
            form,
            title=gettext("Ask %(name)s") % {"name": application},
            intro=gettext(
                "The parent gets the question by e-mail, with a link to the application's "
                "page, and answers there. Until then the application waits; you can still "
                "decide it."
            ),
            submit=gettext("Send the question"),
        )

    def _decision_form(
        self,
        request: HttpRequest,
        application: Application,
        form: Any,
        *,
        title: str,
        intro: str,
        submit: str,
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "submit": submit,
            "opts": self.model._meta,
            "original": application,
            "form": form,
            "media": self.media + form.media,
            "cancel_url": reverse("admin:applications_application_change", args=[application.pk]),
        }
        return TemplateResponse(
            request, "admin/applications/application/decision_form.html", context
        )
