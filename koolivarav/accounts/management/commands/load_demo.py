import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from koolivarav.accounts.models import User
from koolivarav.schools.demo import (
    DEMO_ADMIN_CODE,
    DEMO_PARENT_CODE,
    DEMO_SCHOOL,
    DEMO_STRANGER_CODE,
    generate_students,
)
from koolivarav.schools.models import KnownGuardians, School, SchoolHost, Student

DEMO_ADMIN_EMAIL = "admin@jpk.example"


class Command(BaseCommand):
    help = (
        "Create the demo school Jõgeva Põhikool with a dozen students and a school "
        "administrator. Safe to run again: existing data is kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", default="8000")
        parser.add_argument(
            "--password-file",
            type=Path,
            default=Path(settings.BASE_DIR) / "var" / "demo-admin-password.txt",
            help="Where the administrator's password is kept between runs.",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        url = f"http://127.0.0.1:{options['port']}/"
        school, _created = School.objects.get_or_create(
            short_name=DEMO_SCHOOL["short_name"],
            # The demo shows the records deciding: a verified parent listed as the guardian of
            # every child applied for is approved and logged in at once (new schools: queued).
            defaults={**DEMO_SCHOOL, "portal_url": url, "known_guardians": KnownGuardians.APPROVE},
        )
        for host in ("127.0.0.1", "localhost"):
            SchoolHost.objects.get_or_create(hostname=host, defaults={"school": school})

        students = list(generate_students(12, seed=2026))
        for index, row in enumerate(students):
            guardians = [DEMO_PARENT_CODE] if index < 2 else []
            Student.objects.get_or_create(
                school=school,
                id_code=row["id_code"],
                defaults={**row, "guardian_id_codes": guardians},
            )

        password_file: Path = options["password_file"]
        admin = User.objects.filter(school=school, email__iexact=DEMO_ADMIN_EMAIL).first()
        if admin is None or not password_file.exists():
            password = secrets.token_urlsafe(12)
            if admin is None:
                admin = User(
                    school=school,
                    email=DEMO_ADMIN_EMAIL,
                    first_name="Kadri",
                    last_name="Kask",
                    id_code=DEMO_ADMIN_CODE,
                    role=User.Role.SCHOOL_ADMIN,
                    is_staff=True,
                )
            admin.set_password(password)
            admin.save()
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if not admin.id_code:  # a demo made before verified identity came
            admin.id_code = DEMO_ADMIN_CODE
            admin.save(update_fields=["id_code"])
        password = password_file.read_text().strip()

        self.stdout.write(self.style.SUCCESS(f"Demo school: {school.name} at {url}"))
        self.stdout.write(f"  School administrator: {DEMO_ADMIN_EMAIL} / {password}")
        self.stdout.write(f"  Admin pages: {url}admin/")
        if settings.ADMIN_SECOND_FACTOR:
            self.stdout.write(
                "  The first admin login sets up an authenticator app (a code on every login);"
                " for a quick look without one: ADMIN_SECOND_FACTOR=false make run"
            )
        else:
            self.stdout.write("  Second factor for administrators: OFF (ADMIN_SECOND_FACTOR=false)")
        self.stdout.write("  Students (ID code, name, class) a parent can apply for:")
        for student in Student.objects.filter(school=school).order_by("class_name", "last_name")[
            :12
        ]:
            self.stdout.write(f"    {student.id_code}  {student.full_name}, {student.class_name}")
        self.stdout.write(f"  A parent the school already knows (ID code): {DEMO_PARENT_CODE}")
        for student in Student.objects.filter(school=school).order_by("last_name"):
            if DEMO_PARENT_CODE not in student.guardian_id_codes:
                continue
            self.stdout.write(
                f"    her child in the records: {student.id_code}  {student.full_name}"
            )
        tara = settings.IDENTITY_PROVIDERS.get("tara")
        if tara:
            self.stdout.write(
                f"  Log in or apply with ID-card, Mobile-ID or Smart-ID: TARA at {tara['ISSUER']}"
            )
            if tara["ISSUER"].startswith("http://127.0.0.1"):
                self.stdout.write(
                    "    (the demo's stand-in: pick Mari Maasikas, listed as the guardian of two"
                    f" students ({DEMO_PARENT_CODE}); Jaan Tamm, whom the school does not know"
                    f" ({DEMO_STRANGER_CODE}); or Kadri Kask, the administrator"
                    f" ({DEMO_ADMIN_CODE}), who gets into the admin without an app's code)"
                )
