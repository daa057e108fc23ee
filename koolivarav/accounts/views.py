from django.contrib.auth import views as auth_views

from .forms import LoginForm


class HomeView(auth_views.LoginView):
    """The school's home page: the login form, and the way to apply for an account."""

    template_name = "accounts/home.html"
    authentication_form = LoginForm
    redirect_authenticated_user = False


class LogoutView(auth_views.LogoutView):
    """Logout by POST only (Django's LogoutView refuses GET)."""
