from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils.module_loading import import_string

from koolivarav.notifications.services import wake_worker_for_abandoned_emails


class Command(BaseCommand):
    help = (
        "Run the background worker (django-tasks' db_worker). Before it starts, it queues a "
        "pass over the outbox now and one for when the e-mails a dead worker was sending may "
        "be taken over, so nothing a worker left behind stays unsent; and it runs "
        "WORKER_STARTUP_HOOKS (the daily housekeeping)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", action="store_true", help="Work until idle, then exit.")
        parser.add_argument("--interval", type=float, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        wake_worker_for_abandoned_emails()
        # Other apps' work for the worker (housekeeping), named in the settings so that
        # notifications imports no other app.
        for hook in getattr(settings, "WORKER_STARTUP_HOOKS", []):
            import_string(hook)()
        call_command(
            "db_worker",
            batch=options["batch"],
            interval=options["interval"],
            reload=False,
            verbosity=options["verbosity"],
        )
