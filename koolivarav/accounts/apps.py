from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "koolivarav.accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # Registers the login-details e-mail's preparer with the outbox.
        from . import services  # noqa: F401
