from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApplicationsConfig(AppConfig):
    name = "koolivarav.applications"
    verbose_name = _("Account applications")

    def ready(self) -> None:
        from koolivarav.notifications.services import allow_recipient_correction

        from .services import ANOTHER_APPLICATION, REJECTED

        # The applicant typed these addresses: the school may correct a mistyped one.
        for kind in (REJECTED, ANOTHER_APPLICATION):
            allow_recipient_correction(kind)
