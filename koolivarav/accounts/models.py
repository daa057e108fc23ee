from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from koolivarav.schools.idcodes import validate_id_code
from koolivarav.schools.models import School, Student
from koolivarav.schools.text import name_key, normalize_name

# `email__lower=...` compares with LOWER(email), which the index below covers; Django's
# `iexact` would use UPPER() on PostgreSQL and miss it.
models.EmailField.register_lookup(Lower)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> "User":
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> "User":
        """An operator: sees every school; belongs to none."""
        fields.update(is_staff=True, is_superuser=True, school=None, role=User.Role.OPERATOR)
        return self._create(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> "User":
        # Used by createsuperuser; e-mail addresses are unique only within a school.
        return self.get(email__iexact=username, school__isnull=True)


class User(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        PARENT = "parent", _("parent")
        SCHOOL_ADMIN = "school_admin", _("school administrator")
        OPERATOR = "operator", _("operator")

    class ApplicationNotices(models.TextChoices):
        """How an administrator hears of new applications."""

        EACH = "each", _("an e-mail about each new application")
        DIGEST = "digest", _("one e-mail a day listing the waiting applications")
        NONE = "none", _("no e-mails")

    school = models.ForeignKey(
        School,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("school"),
        help_text=_("Empty only for operators, who run the installation."),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.PARENT)
    email = models.EmailField(_("e-mail"), max_length=254)
    first_name = models.CharField(_("first name"), max_length=150)
    last_name = models.CharField(_("last name"), max_length=150)
    # Derived from the names (see name_key); the login by name looks it up by index.
    name_key = models.CharField(max_length=300, editable=False, db_index=True)
    id_code = models.CharField(
        _("ID code"), max_length=11, blank=True, validators=[validate_id_code]
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    language = models.CharField(_("language"), max_length=5, default="et")
    children = models.ManyToManyField(
        Student, blank=True, related_name="parents", verbose_name=_("children")
    )
    must_change_password = models.BooleanField(
        _("must change password"),
        default=False,
        help_text=_("Set while the user logs in with a temporary password."),
    )
    temporary_password_expires_at = models.DateTimeField(
        _("temporary password expires"), null=True, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    # An administrator's notices of new applications (the school may turn them all off).
    application_notices = models.CharField(
        _("e-mails about new applications"),
        max_length=10,
        choices=ApplicationNotices.choices,
        default=ApplicationNotices.EACH,
    )
    digest_hour = models.PositiveSmallIntegerField(
        _("daily digest at"),
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
        default=8,
        help_text=_("Estonian time. The digest is sent only on days when applications wait."),
    )
    # The day the last digest went (local time): the workers send each administrator one a
    # day between them, whoever moves this date first (operations.digests).
    digest_sent_on = models.DateField(null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "school",
                name="user_email_unique_per_school",
                violation_error_message=_("This school already has an account with this e-mail."),
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=Q(school__isnull=True),
                name="operator_email_unique",
            ),
            models.UniqueConstraint(
                fields=["school", "id_code"],
                condition=~Q(id_code=""),
                name="user_id_code_unique_per_school",
                violation_error_message=_("This school already has an account with this ID code."),
            ),
        ]
        indexes = [models.Index(Lower("email"), "school", name="user_email_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The names are normalised and the lookup key derived here, not in each caller, so an
        # edit made anywhere (admin, shell, service) can never leave the key stale.
        self.first_name = normalize_name(self.first_name)
        self.last_name = normalize_name(self.last_name)
        self.name_key = name_key(self.first_name, self.last_name)
        if kwargs.get("update_fields") is not None and (
            {"first_name", "last_name"} & set(kwargs["update_fields"])
        ):
            kwargs["update_fields"] = {*kwargs["update_fields"], "name_key"}
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name

    @property
    def is_operator(self) -> bool:
        return self.is_active and self.is_superuser

    @property
    def is_administrative(self) -> bool:
        """An administrator or an operator (or an account with admin-site access)."""
        return self.is_staff or self.is_superuser or self.role != self.Role.PARENT

    def may_change_account_of(self, user: "User") -> bool:
        """Whether this person may change the e-mail, role, password or second factor of `user`.

        A school's administrator manages the school's parents and their own account, never a
        fellow administrator's: with another's e-mail, password and second factor they could
        log in as that person. That is for operators only.
        """
        if self.is_operator:
            return True
        if user.pk == self.pk:
            return True
        return not user.is_administrative and self.administers(user.school)

    def administers(self, school: School | None) -> bool:
        """True for an operator, or for this school's own administrator."""
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        return (
            self.role == self.Role.SCHOOL_ADMIN
            and self.is_staff
            and school is not None
            and self.school_id == school.pk
        )


class AuditEntry(models.Model):
    """Who did what, when: every decision about an application or an account.

    Written by services only; administrators can read the school's entries but never change
    or delete them.
    """

    class Action(models.TextChoices):
        APPROVED = "approved", _("approved an application")
        REJECTED = "rejected", _("rejected an application")
        RESENT = "resent", _("sent new login details")
        CHILDREN_ADDED = "children_added", _("added children to an account")
        SECOND_FACTOR_ENROLLED = "2fa_enrolled", _("set up an authenticator app")
        SECOND_FACTOR_RESET = "2fa_reset", _("reset the second factor")
        RECOVERY_CODES_MADE = "2fa_recovery_made", _("made recovery codes")
        RECOVERY_CODE_USED = "2fa_recovery_used", _("logged in with a recovery code")
        EMAIL_CHANGED = "email_changed", _("changed an e-mail address")
        ROLE_CHANGED = "role_changed", _("changed a role")
        CHILDREN_CHANGED = "children_changed", _("changed the children of an account")
        DEACTIVATED = "deactivated", _("deactivated an account")
        REACTIVATED = "reactivated", _("reactivated an account")
        STUDENT_DEACTIVATED = "student_left", _("marked a student as not studying here")
        STUDENT_REACTIVATED = "student_back", _("marked a student as studying here")
        QUESTION_ASKED = "question_asked", _("asked the applicant a question")
        QUESTION_ANSWERED = "question_answered", _("the applicant answered a question")

    # Empty only for entries about operators, who belong to no school.
    school = models.ForeignKey(
        School,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_entries",
        verbose_name=_("school"),
    )
    actor = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("who")
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    target = models.CharField(_("whom"), max_length=300)
    # What the entry is about, e.g. "application:42": lets the retention purge find it.
    reference = models.CharField(max_length=50, blank=True, db_index=True, editable=False)
    details = models.TextField(_("details"), blank=True)
    # A changed value, as it was and as it became (an e-mail address, a role).
    before = models.CharField(_("before"), max_length=254, blank=True)
    after = models.CharField(_("after"), max_length=254, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor}: {self.get_action_display()} {self.target}"
