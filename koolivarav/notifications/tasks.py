from django_tasks import task

from .services import deliver_due_emails


@task()
def deliver_due_emails_task() -> int:
    """Send every e-mail that is due. Queued whenever an e-mail is written or must be retried."""
    return deliver_due_emails()
