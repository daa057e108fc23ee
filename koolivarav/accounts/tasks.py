from django_tasks import TaskContext, task, task_backends
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from .services import answer_password_reset_request


@task(takes_context=True)
def send_password_reset_task(
    context: TaskContext, *, school_id: int, identifier: str, language: str
) -> int:
    """Look up whom a reset request is for and queue their links (the request's own answer
    did no lookup, so its timing tells nothing)."""
    _forget_identifier(context, school_id=school_id, language=language)
    return answer_password_reset_request(
        school_id=school_id, identifier=identifier, language=language
    )


def _forget_identifier(context: TaskContext, *, school_id: int, language: str) -> None:
    """The typed text may be an e-mail address; django-tasks-db would keep it with the task's
    arguments until the results are pruned. It is dropped as soon as the worker holds it (a
    finished task's row is written back without its arguments, so it stays dropped)."""
    if isinstance(task_backends[context.task_result.backend], DatabaseBackend):
        DBTaskResult.objects.filter(pk=context.task_result.id).update(
            args_kwargs={"args": [], "kwargs": {"school_id": school_id, "language": language}}
        )
