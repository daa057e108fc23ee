"""The kinds of e-mail the product sends, in words, for the admin's list of e-mails.

A kind is "<app>.<name>", and its templates are "<app>/email/<name>.*". An app that starts
sending a new kind names it here (the e-mail tests fail for a template without a name): these
are only words for the screen, so notifications still knows nothing of the apps that send them.
"""

from django.utils.translation import gettext_lazy as _

KIND_NAMES = {
    "accounts.login_details": _("login details"),
    "accounts.children_added": _("children added to an account"),
    "accounts.password_reset": _("password reset link"),
    "accounts.email_changed": _("e-mail address changed"),
    "accounts.role_changed": _("role changed"),
    "accounts.second_factor_reset": _("second factor reset"),
    "accounts.application_digest": _("daily digest of applications"),
    "applications.receipt": _("receipt of an application"),
    "applications.new_application": _("notice of a new application"),
    "applications.another_application": _("another application with the same ID code"),
    "applications.rejected": _("application rejected"),
    "applications.partly_approved": _("application partly approved"),
    "applications.question": _("question to the parent"),
    "applications.answered": _("notice of the parent's answer"),
}


def kind_name(kind: str) -> str:
    """The kind in words ("login details"), or the kind itself when it has no name."""
    name = KIND_NAMES.get(kind)
    return str(name) if name is not None else kind


def kind_of_template(template: str) -> str:
    """ "accounts/email/login_details" → "accounts.login_details"."""
    app, _email, name = template.split("/", 2)
    return f"{app}.{name}"
