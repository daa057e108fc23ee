from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchoolsConfig(AppConfig):
    name = "koolivarav.schools"
    verbose_name = _("Schools")

    def ready(self) -> None:
        from . import signals  # noqa: F401
