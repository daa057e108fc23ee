from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OperationsConfig(AppConfig):
    """What an operator runs the service with: health, metrics, logs, error reports and
    housekeeping. It may import every other app; no app imports it."""

    name = "koolivarav.operations"
    verbose_name = _("Operations")

    def ready(self) -> None:
        from .health import quiet_check_failures
        from .metrics import connect_signals

        connect_signals()  # logins and lock-outs counted for /metrics
        quiet_check_failures()  # a failing readiness probe logs one line, not a traceback
