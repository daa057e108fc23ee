"""The public application: step 1 (the form), step 2 (the e-mail again), the confirmation.

Step 1's data waits in the server-side session between the steps, never in hidden fields,
and every POST is answered with a redirect (POST → redirect → GET), so that reloading a page
never sends anything twice.
"""

import time
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, TemplateView, View

from koolivarav.accounts import throttling
from koolivarav.accounts.verified import log_in_verified
from koolivarav.schools.models import IdentityMethod
from koolivarav.schools.pagecache import cache_anonymous_page

from .forms import AnswerForm, ApplicationForm, EmailConfirmationForm
from .models import Application
from .selectors import (
    StatusLinkExpired,
    StatusLinkInvalid,
    application_for_expired_token,
    application_for_status_token,
    masked_email,
    status_of,
)
from .services import (
    ApplicantData,
    ChildrenNotFound,
    NoOpenQuestion,
    answer_question,
    confirm_address,
    receive_application,
    send_receipt,
    status_link_days,
)
from .verified import forget_verified_parent, verified_parent

STEP1_KEY = "application_step1"
SUBMITTED_KEY = "application_submitted"


def throttled(request: HttpRequest) -> HttpResponse:
    return render(request, "applications/throttled.html", status=429)


class ApplicationStepMixin:
    request: HttpRequest

    def step1_data(self) -> ApplicantData | None:
        """Step 1's data if it belongs to this school and has not gone stale."""
        stored = self.request.session.get(STEP1_KEY)
        if not isinstance(stored, dict):
            return None
        age = time.time() - stored.get("saved_at", 0)
        if stored.get("school_id") != self.request.school.pk or not (  # type: ignore[attr-defined]
            0 <= age <= settings.KOOLIVARAV["APPLICATION_STEP_SECONDS"]
        ):
            return None
        try:
            data = dict(stored["data"])
            data["child_id_codes"] = tuple(data["child_id_codes"])
            return ApplicantData(**data)
        except (KeyError, TypeError, ValueError):  # a session from an older version of the form
            return None


# Step 1 holds the parent's and the children's ID codes when it is shown again (back from
# step 2, or with an error): the browser must keep no copy of it, in its cache or its history.
# never_cache is outside the page cache, so its copies of the blank page say so too; a page
# with the session's data never goes through the page cache (a session cookie bypasses it).
@method_decorator(never_cache, name="dispatch")
@method_decorator(cache_anonymous_page, name="get")
class ApplicationStartView(ApplicationStepMixin, FormView):
    template_name = "applications/start.html"
    form_class = ApplicationForm
    success_url = reverse_lazy("applications:confirm")

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["school"] = self.request.school  # type: ignore[attr-defined]
        kwargs["client_address"] = throttling.client_address(self.request)
        kwargs["verified"] = verified_parent(self.request)
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["verified"] = verified_parent(self.request)
        context["identity_providers"] = self.request.school.offered_identity_providers()  # type: ignore[attr-defined]
        return context

    def get_initial(self) -> dict[str, Any]:
        # Back from step 2: the form shows what was typed.
        data = self.step1_data()
        if data is None:
            return {}
        initial = asdict(data)
        initial["child_id_codes"] = " ".join(data.child_id_codes)
        return initial

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit = throttling.limit("application_form_per_address")
        if not throttling.hit(limit, throttling.client_address(request)):
            return throttled(request)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: ApplicationForm) -> HttpResponse:
        data = asdict(form.applicant_data())
        data["child_id_codes"] = list(data["child_id_codes"])
        self.request.session[STEP1_KEY] = {
            "school_id": self.request.school.pk,  # type: ignore[attr-defined]
            "saved_at": time.time(),
            "data": data,
        }
        self.request.session.pop(SUBMITTED_KEY, None)
        return super().form_valid(form)


class ApplicationConfirmView(ApplicationStepMixin, FormView):
    template_name = "applications/confirm.html"
    form_class = EmailConfirmationForm
    success_url = reverse_lazy("applications:submitted")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.data = self.step1_data()
        if self.data is None:
            if request.session.get(SUBMITTED_KEY) and request.method == "POST":
                # A second click on "Saada taotlus »": the first one already sent it.
                return redirect("applications:submitted")
            request.session.pop(STEP1_KEY, None)
            messages.error(
                request,
                _(
                    "The form's data was not found or has expired. "
                    "Please fill in the form again; nothing was sent."
                ),
            )
            return redirect("applications:start")
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        assert self.data is not None  # noqa: S101 - dispatch() returned otherwise
        kwargs["expected_email"] = self.data.email
        return kwargs

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit = throttling.limit("application_form_per_address")
        if not throttling.hit(limit, throttling.client_address(request)):
            return throttled(request)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: EmailConfirmationForm) -> HttpResponse:
        assert self.data is not None  # noqa: S101 - dispatch() returned otherwise
        limit = throttling.limit("application_per_email")
        if not throttling.hit(limit, self.data.email.casefold()):
            return throttled(self.request)
        try:
            application = receive_application(
                school=self.request.school,  # type: ignore[attr-defined]
                data=self.data,
                language=self.request.LANGUAGE_CODE,  # type: ignore[attr-defined]
            )
        except ChildrenNotFound:
            messages.error(
                self.request,
                _("The school's list of students has changed. Please check the ID codes."),
            )
            return HttpResponseRedirect(reverse_lazy("applications:start"))
        self.request.session.pop(STEP1_KEY, None)
        verified = verified_parent(self.request)
        forget_verified_parent(self.request)
        if (
            application.status == application.Status.APPROVED
            and application.account is not None
            and application.account.is_active
            and verified is not None
            and application.account.id_code == verified.id_code == application.parent_id_code
        ):
            # The school's records approved it at once (School.known_guardians): the parent
            # proved who they are a moment ago, so they are logged in straight away.
            log_in_verified(
                request=self.request,
                user=application.account,
                provider="harid" if verified.method == IdentityMethod.HARID else "tara",
                level=verified.level,
            )
            messages.success(
                self.request,
                _(
                    "Your account is ready: the school's records list you as the guardian of "
                    "the children you applied for, and they are on your page now. Next time, "
                    "log in the same way."
                ),
            )
            return redirect("home")
        self.request.session[SUBMITTED_KEY] = {
            "masked_email": masked_email(application.email),
            "held": application.is_held_back,
        }
        return super().form_valid(form)


class ApplicationSubmittedView(TemplateView):
    template_name = "applications/submitted.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.session.get(SUBMITTED_KEY):
            return redirect("applications:start")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        submitted = self.request.session.get(SUBMITTED_KEY)
        if isinstance(submitted, dict):
            context["masked_email"] = submitted.get("masked_email", "")
            context["held"] = bool(submitted.get("held"))
        return context


# A token longer than this is no token of ours (ours are about 40 characters).
MAX_TOKEN_LENGTH = 200


def _token(data: Any) -> str:
    token = data.get("t", "")
    return token if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH else ""


# The status page is for whoever holds the receipt's link: no copy in any cache.
@method_decorator(never_cache, name="dispatch")
class ApplicationStatusView(View):
    """The receipt's link: the application's state in plain words, and the button that
    confirms the address.

    Opening the link does not confirm by itself: some mail systems open every link in an
    e-mail to scan it, and a mistyped address that happens to exist would then be confirmed
    for the stranger who has it. A person presses the button (POST)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        token = _token(request.GET)
        try:
            application = application_for_status_token(school=request.school, token=token)  # type: ignore[attr-defined]
        except StatusLinkExpired:
            return render(
                request,
                "applications/status_expired.html",
                {"token": token, "link_days": status_link_days()},
            )
        except StatusLinkInvalid as error:
            raise Http404 from error
        return _status_page(request, application, token)

    def post(self, request: HttpRequest) -> HttpResponse:
        token = _token(request.POST)
        try:
            application = application_for_status_token(school=request.school, token=token)  # type: ignore[attr-defined]
        except StatusLinkExpired:
            return render(
                request,
                "applications/status_expired.html",
                {"token": token, "link_days": status_link_days()},
            )
        except StatusLinkInvalid as error:
            raise Http404 from error
        if confirm_address(application_id=application.pk):
            messages.success(request, _("Thank you: your e-mail address is confirmed."))
        # A token that passed the signature check holds only URL-safe characters and ":".
        return HttpResponseRedirect(f"{reverse('applications:status')}?t={token}")


def _status_page(
    request: HttpRequest,
    application: Application,
    token: str,
    answer_form: AnswerForm | None = None,
    status: int = 200,
) -> HttpResponse:
    state = status_of(application)
    if answer_form is None and state.state == "asked":
        answer_form = AnswerForm()
    return render(
        request,
        "applications/status.html",
        {
            "status": state,
            "token": token,
            "may_confirm": application.email_confirmed_at is None
            and application.status == application.Status.PENDING,
            "answer_form": answer_form if state.state == "asked" else None,
        },
        status=status,
    )


@method_decorator(never_cache, name="dispatch")
class AnswerQuestionView(View):
    """The school's question answered on the status page. The status link's token proves
    that the one answering holds the e-mail the question went to; each question takes one
    answer, and the client address is rate-limited as the public form is."""

    def post(self, request: HttpRequest) -> HttpResponse:
        limit = throttling.limit("application_form_per_address")
        if not throttling.hit(limit, throttling.client_address(request)):
            return throttled(request)
        token = _token(request.POST)
        try:
            application = application_for_status_token(school=request.school, token=token)  # type: ignore[attr-defined]
        except StatusLinkExpired:
            return render(
                request,
                "applications/status_expired.html",
                {"token": token, "link_days": status_link_days()},
            )
        except StatusLinkInvalid as error:
            raise Http404 from error
        form = AnswerForm(request.POST)
        if not form.is_valid():
            return _status_page(request, application, token, answer_form=form, status=400)
        try:
            answer_question(application_id=application.pk, answer=form.cleaned_data["answer"])
        except NoOpenQuestion:
            messages.info(request, _("This question has been answered already."))
        else:
            messages.success(request, _("Thank you: the school has your answer."))
        return HttpResponseRedirect(f"{reverse('applications:status')}?t={token}")


@method_decorator(never_cache, name="dispatch")
class ReceiptResendView(View):
    """An expired link's "send me a new link": the receipt goes again to the address the
    application has (never to one typed here). The same answer whatever the link names."""

    def post(self, request: HttpRequest) -> HttpResponse:
        limit = throttling.limit("application_form_per_address")
        if not throttling.hit(limit, throttling.client_address(request)):
            return throttled(request)
        application = application_for_expired_token(
            school=request.school,  # type: ignore[attr-defined]
            token=_token(request.POST),
        )
        if application is not None:
            send_receipt(application=application)
        return render(request, "applications/status_resent.html")
