from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from koolivarav.applications.services import purge_rejected_applications
from koolivarav.notifications.services import purge_old_emails


class Command(BaseCommand):
    help = (
        "Delete rejected applications older than the retention period (leaving an anonymous "
        "audit stub) and wipe the recipients and contents of old e-mails. Run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.KOOLIVARAV["REJECTED_APPLICATION_RETENTION_DAYS"],
            help="Retention period in days (default: REJECTED_APPLICATION_RETENTION_DAYS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        applications = purge_rejected_applications(older_than_days=days)
        emails = purge_old_emails(older_than_days=days)
        self.stdout.write(
            f"Deleted {applications} rejected application(s) and wiped {emails} e-mail(s) "
            f"older than {days} days."
        )
