from django_tasks import task

from .services import run_housekeeping_if_due, schedule_housekeeping


@task()
def housekeeping_task() -> dict[str, int] | None:
    """Queue the next night's run, then run housekeeping unless it already ran today.
    Returns what it removed, or None when another run had done today's."""
    schedule_housekeeping()
    return run_housekeeping_if_due()


def start_housekeeping() -> None:
    """For a worker that starts (WORKER_STARTUP_HOOKS): a run now, which does today's
    housekeeping if no worker has yet, and queues the next night's."""
    housekeeping_task.enqueue()


@task()
def digests_task() -> int:
    """Queue the next hour's run, then the daily digests that are due now. Returns how many
    digests were queued."""
    from .digests import run_digests, schedule_digests

    schedule_digests()
    return run_digests()


def start_digests() -> None:
    """For a worker that starts (WORKER_STARTUP_HOOKS): a run now, which sends the digests
    due and not yet sent today, and queues the next hour's."""
    digests_task.enqueue()
