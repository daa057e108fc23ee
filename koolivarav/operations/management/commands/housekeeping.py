from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from koolivarav.operations.services import run_housekeeping, run_housekeeping_if_due


class Command(BaseCommand):
    help = (
        "Remove what is older than the retention settings: rejected applications (an "
        "anonymous audit stub stays), old e-mails' recipients and contents, django-axes' "
        "login records, expired sessions, finished task results and expired database-cache "
        "rows. Prints how many of each it removed. The worker runs it once a day by itself."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-due",
            action="store_true",
            help="Only if it has not run today (by the worker or another timer).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        removed = run_housekeeping_if_due() if options["if_due"] else run_housekeeping()
        if removed is None:
            self.stdout.write("Housekeeping already ran today; nothing done.")
            return
        for kind, count in removed.items():
            self.stdout.write(f"{kind}: {count}")
