from django.db import models


class DailyJob(models.Model):
    """A job the workers run once a day between them (housekeeping).

    Whichever worker moves `last_run_on` to today with a conditional UPDATE runs the job;
    the others find the day taken. `next_run_at` is when the queued run is due, so that only
    one run a night is queued however many workers start.
    """

    name = models.CharField(max_length=50, primary_key=True)
    last_run_on = models.DateField(null=True, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # What the last run removed, as counts per kind (never what the rows held).
    last_report = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name
