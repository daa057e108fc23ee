import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from koolivarav.identity.standin import Person, StandInProvider
from koolivarav.schools.demo import DEMO_PEOPLE


class Command(BaseCommand):
    help = (
        "Serve the stand-in for TARA or HarID (OpenID Connect) on 127.0.0.1 for the demo, until "
        "Ctrl-C: anyone can log in there as any of the demo's people, so it runs only with DEBUG."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--flavour", choices=["tara", "harid"], default="tara")
        parser.add_argument("--client-id", help="Default: demo-<flavour>.")
        parser.add_argument("--client-secret", help="Default: demo-<flavour>-secret.")

    def handle(self, *args: Any, **options: Any) -> None:
        # Production must never run it: it lets anyone log in as anyone.
        if not settings.DEBUG:
            raise CommandError(
                "The stand-in identity provider lets anyone log in as anyone: it runs only "
                "with DEBUG on (the demo), never in production."
            )
        flavour = options["flavour"]
        provider = StandInProvider(
            flavour=flavour,
            client_id=options["client_id"] or f"demo-{flavour}",
            client_secret=options["client_secret"] or f"demo-{flavour}-secret",
            people=[Person(*person) for person in DEMO_PEOPLE],
            port=options["port"],
            demo=True,
        )
        provider.start()
        self.stdout.write(
            f"Stand-in {provider.name} listening at {provider.issuer} "
            f"(client id {provider.client_id}); Ctrl-C stops it."
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            provider.stop()
