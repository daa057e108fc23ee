from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from koolivarav.schools.models import School
from koolivarav.schools.services import import_students, read_student_file


class Command(BaseCommand):
    help = (
        "Import a school's students from a CSV or XLSX file (columns: id_code, first_name, "
        "last_name, class_name, optional guardian_id_codes and is_active; Estonian headers such "
        "as isikukood, eesnimi, perekonnanimi, klass also work). Every row is written, or none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--school", required=True, help="The school's short name, e.g. jpk.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            school = School.objects.get(short_name=options["school"])
        except School.DoesNotExist:
            raise CommandError(f"No school with the short name {options['school']!r}.") from None
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            dataset = read_student_file(path=path)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None

        report = import_students(school=school, dataset=dataset, dry_run=options["dry_run"])
        if report.problems:
            for problem in report.problems[:200]:
                where = f"row {problem.row}" if problem.row else "file"
                self.stderr.write(f"{where}: {problem.message}")
            if len(report.problems) > 200:
                self.stderr.write(f"… and {len(report.problems) - 200} more problems.")
            raise CommandError(
                f"Nothing was imported: {len(report.problems)} problem(s) "
                f"in {report.total_rows} rows."
            )
        verb = "Would import" if options["dry_run"] else "Imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {report.total_rows} rows into {school.name}: {report.new} new, "
                f"{report.updated} updated, {report.unchanged} unchanged."
            )
        )
