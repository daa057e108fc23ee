from urllib.parse import urlsplit

from django.contrib.auth import views as auth_views
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse_lazy

from . import throttling
from .forms import LoginForm, SchoolPasswordResetForm


class HomeView(auth_views.LoginView):
    """The school's home page: the login form, and the way to apply for an account."""

    template_name = "accounts/home.html"
    authentication_form = LoginForm
    redirect_authenticated_user = False


class LogoutView(auth_views.LogoutView):
    """Logout by POST only (Django's LogoutView refuses GET)."""


class PasswordResetView(auth_views.PasswordResetView):
    """Order a one-time link by e-mail; the same answer whether or not the person exists."""

    form_class = SchoolPasswordResetForm
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset.subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: SchoolPasswordResetForm) -> HttpResponse:  # type: ignore[override]
        address = throttling.client_address(self.request)
        identifier = form.cleaned_data["email"].strip().casefold()
        if not throttling.hit(throttling.limit("password_reset_per_address"), address):
            return render(self.request, "applications/throttled.html", status=429)
        if not throttling.hit(throttling.limit("password_reset_per_identifier"), identifier):
            # Over the limit for this person: answer as always, send nothing more.
            return HttpResponseRedirect(self.get_success_url())
        school = self.request.school  # type: ignore[attr-defined]
        portal = urlsplit(school.portal_url)
        # The link is built from the school's configured address, never from the Host header.
        self.extra_email_context = {"school": school}
        self.from_email = f"{school.name} <{school.sender_email}>"
        form.save(
            request=self.request,
            domain_override=portal.netloc,
            use_https=portal.scheme == "https",
            from_email=self.from_email,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            extra_email_context=self.extra_email_context,
        )
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Opening the link shows a form; only sending the form uses the link up, so a mail
    scanner that fetches the link does not spend it."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    post_reset_login = False


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
