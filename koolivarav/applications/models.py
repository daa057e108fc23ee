from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from koolivarav.schools.models import IdentityMethod, School, Student

# Pending applications that wait for the applicant to confirm their address (the school holds
# them back): the review queue, its notices and approval leave them out.
HELD_BACK = Q(status="pending", held_until_confirmed=True, email_confirmed_at__isnull=True)


class Application(models.Model):
    """A parent's request for an account at one school, naming their children there."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    class QuestionState(models.TextChoices):
        """A pending application and the school's question to the parent (see `Question`)."""

        NONE = "", _("no question")
        ASKED = "asked", _("waiting for the parent")
        ANSWERED = "answered", _("answered")

    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="applications", verbose_name=_("school")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    parent_id_code = models.CharField(_("parent's ID code"), max_length=11)
    first_name = models.CharField(_("first name"), max_length=150)
    last_name = models.CharField(_("last name"), max_length=150)
    email = models.EmailField(_("e-mail"), max_length=254)
    phone = models.CharField(_("phone"), max_length=20)
    language = models.CharField(_("language"), max_length=5, default="et")
    children = models.ManyToManyField(
        Student, related_name="applications", verbose_name=_("children")
    )
    # 0 while pending, 1 once decided: the review queue's first sort key, kept by the
    # database itself so that (school, queue_rank, -created_at) can be one index.
    queue_rank = models.GeneratedField(
        expression=models.Case(
            models.When(status="pending", then=models.Value(0)),
            default=models.Value(1),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(_("submitted"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    rejection_reason = models.TextField(_("reason for rejection"), blank=True)
    # When the applicant was last told that someone applied again with their ID code but
    # other contact data (at most once a day, so repeated tries do not flood their inbox).
    conflict_noticed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The receipt (services.send_receipt): when it last went, so that a second try within
    # minutes sends none; and when its link confirmed the address.
    receipt_sent_at = models.DateTimeField(_("receipt sent"), null=True, blank=True)
    email_confirmed_at = models.DateTimeField(_("e-mail address confirmed"), null=True, blank=True)
    # Set when the school held the application back until its address is confirmed (the
    # school's setting at the time of applying): until then the review does not see it.
    held_until_confirmed = models.BooleanField(
        _("held until the address is confirmed"), default=False
    )
    # Verified identity (koolivarav.identity): how and when the parent proved that the ID code
    # and the names are theirs; empty for an application typed in by hand.
    identity_method = models.CharField(
        _("identity verified by"), max_length=10, choices=IdentityMethod.choices, blank=True
    )
    identity_verified_at = models.DateTimeField(_("identity verified"), null=True, blank=True)
    # Verified, and listed in the school's records as the guardian of every child applied for
    # when it was submitted: first in the review queue (see selectors.review_queue).
    listed_as_guardian = models.BooleanField(_("verified, listed as guardian"), default=False)
    # Kept by services.ask_parent and answer_question in the transaction that writes the
    # question: the queue shows and filters it without reading the questions. The database's
    # own default lets rows written outside Django (bench/) leave it out.
    question_state = models.CharField(
        _("question to the parent"),
        max_length=10,
        choices=QuestionState.choices,
        blank=True,
        default=QuestionState.NONE,
        db_default=QuestionState.NONE,
    )
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="applications",
        verbose_name=_("account"),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["-created_at"]
        constraints = [
            # One open application per parent and contact data per school: sending the same
            # data again adds children to it; other contact data makes an application of its
            # own, which the review shows beside the first (see services.submit_application).
            models.UniqueConstraint(
                F("school"),
                F("parent_id_code"),
                Lower("email"),
                F("phone"),
                condition=Q(status="pending"),
                name="one_pending_application_per_contact",
            ),
        ]
        indexes = [
            models.Index(fields=["school", "status", "-created_at"], name="application_status_idx"),
            models.Index(
                fields=["school", "queue_rank", "-listed_as_guardian", "-created_at"],
                name="application_queue_idx",
            ),
            # A parent's own applications, listed on their home page on every visit.
            models.Index(
                fields=["school", "parent_id_code", "-created_at"], name="application_parent_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_held_back(self) -> bool:
        """Pending and waiting for its address to be confirmed: out of the review."""
        return (
            self.status == self.Status.PENDING
            and self.held_until_confirmed
            and self.email_confirmed_at is None
        )

    @property
    def is_verified(self) -> bool:
        return bool(self.identity_method and self.identity_verified_at)

    @property
    def reference(self) -> str:
        """How the audit trail refers to this application."""
        return f"application:{self.pk}"

    @property
    def is_waiting_for_parent(self) -> bool:
        return (
            self.status == self.Status.PENDING and self.question_state == self.QuestionState.ASKED
        )


class ChildDecision(models.Model):
    """The school's decision on one child of an application: added to the parent's account,
    or not, with the reason the parent is told. Written with the application's decision."""

    application = models.ForeignKey(
        Application,
        on_delete=models.CASCADE,
        related_name="child_decisions",
        verbose_name=_("application"),
    )
    student = models.ForeignKey(
        Student, on_delete=models.CASCADE, related_name="+", verbose_name=_("student")
    )
    approved = models.BooleanField(_("added to the account"))
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("decision on a child")
        verbose_name_plural = _("decisions on children")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "student"], name="one_decision_per_child"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student}: {'+' if self.approved else '-'}"


class Question(models.Model):
    """The school's question to the parent about a pending application, and the answer the
    parent gave on the application's status page."""

    application = models.ForeignKey(
        Application,
        on_delete=models.CASCADE,
        related_name="questions",
        verbose_name=_("application"),
    )
    text = models.TextField(_("question"))
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("asked by"),
    )
    asked_at = models.DateTimeField(_("asked"), default=timezone.now)
    answer = models.TextField(_("answer"), blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        verbose_name = _("question to the parent")
        verbose_name_plural = _("questions to the parent")
        ordering = ["asked_at", "pk"]

    def __str__(self) -> str:
        return self.text[:50]
