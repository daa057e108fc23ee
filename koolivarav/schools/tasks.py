from django_tasks import task

from .services import run_student_import


@task()
def import_students_task(import_id: int) -> str | None:
    """An administrator's student list import (services.run_student_import)."""
    return run_student_import(import_id=import_id)
