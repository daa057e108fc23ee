"""Running queued tasks in tests, where the dummy task backend only collects them."""

from django_tasks import TaskContext, default_task_backend

from koolivarav.notifications.services import deliver_due_emails


def forget_queued_tasks() -> None:
    default_task_backend.clear()  # type: ignore[attr-defined]


def run_queued_tasks(*, deliver: bool = True) -> None:
    """What the worker does: run every task queued so far, then deliver the e-mails due."""
    results = list(default_task_backend.results)  # type: ignore[attr-defined]
    forget_queued_tasks()
    for result in results:
        if result.task.takes_context:
            result.task.call(TaskContext(task_result=result), *result.args, **result.kwargs)
        else:
            result.task.call(*result.args, **result.kwargs)
    if deliver:
        deliver_due_emails()
