import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from koolivarav.schools.models import School

from .kinds import kind_name


class Email(models.Model):
    """One e-mail in the outbox: written in the same transaction as the decision behind it,
    delivered afterwards by the worker, retried until the mail server takes it.

    Secrets are never stored here: a temporary password is made at sending time (see
    `preparers`), so `context` holds only what may be kept.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="emails", verbose_name=_("school")
    )
    kind = models.CharField(_("kind"), max_length=50)
    template = models.CharField(max_length=100)
    language = models.CharField(_("language"), max_length=5, default="et")
    to_address = models.EmailField(_("to"), max_length=254)
    context = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(_("message ID"), max_length=200, unique=True, editable=False)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    # The plain-text part as it was sent, with every value made at sending time (a temporary
    # password, a link that logs in or resets) masked: see services.MASK.
    text = models.TextField(_("text as sent"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        # "e-mail" is also the address (User.email): in Estonian a message is "e-kiri".
        verbose_name = pgettext_lazy("a message", "e-mail")
        verbose_name_plural = _("e-mails")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # No address: this is what the admin's history (LogEntry) keeps, past the purge.
        return f"{kind_name(self.kind)} #{self.pk}"

    @staticmethod
    def new_message_id(domain: str) -> str:
        return f"<{uuid.uuid4().hex}@{domain}>"
