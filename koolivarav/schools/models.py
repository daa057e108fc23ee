from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from .idcodes import validate_id_code
from .phones import phone_as_written
from .text import validate_class_name, validate_person_name


class AssuranceLevel(models.TextChoices):
    """TARA's levels of assurance (eIDAS), lowest first."""

    LOW = "low", _("low")
    SUBSTANTIAL = "substantial", _("substantial")
    HIGH = "high", _("high")


class IdentityMethod(models.TextChoices):
    """How a person proved who they are: TARA's `amr` values, and HarID."""

    ID_CARD = "idcard", _("ID-card")
    MOBILE_ID = "mID", _("Mobile-ID")
    SMART_ID = "smartid", _("Smart-ID")
    EIDAS = "eIDAS", _("a European eID (eIDAS)")
    HARID = "harid", _("HarID")


TARA_METHODS = [IdentityMethod.ID_CARD, IdentityMethod.MOBILE_ID, IdentityMethod.SMART_ID]


def default_tara_methods() -> list[str]:
    return [str(method) for method in TARA_METHODS]


class KnownGuardians(models.TextChoices):
    APPROVE = "approve", _("approve at once")
    QUEUE = "queue", _("first in the queue, marked, for one-click approval")


class School(models.Model):
    name = models.CharField(_("name"), max_length=200, help_text=_("For example Jõgeva Põhikool."))
    short_name = models.SlugField(
        _("short name"),
        max_length=50,
        unique=True,
        help_text=_("Used in commands and file names, for example jpk."),
    )
    portal_url = models.URLField(
        _("portal address"),
        help_text=_("The public address parents log in at, for example https://jpk.ope.ee/."),
    )
    sender_email = models.EmailField(
        _("sender address"),
        help_text=_("The From address of the school's e-mails, for example robot@ope.ee."),
    )
    notify_admins_of_new_applications = models.BooleanField(
        _("e-mail administrators about new applications"), default=True
    )
    hold_unconfirmed_applications = models.BooleanField(
        _("hold unconfirmed applications"),
        default=True,
        help_text=_(
            "Hold an application back from the review until the parent has confirmed "
            "their e-mail address."
        ),
    )
    # Verified identity (koolivarav.identity): which ways in the school offers, when the
    # installation has the provider configured (settings.IDENTITY_PROVIDERS).
    tara_login = models.BooleanField(
        _("log in and apply with ID-card, Mobile-ID or Smart-ID (TARA)"), default=True
    )
    tara_methods = models.JSONField(
        _("TARA methods accepted"),
        default=default_tara_methods,
        blank=True,
        help_text=_("The ways of proving one's identity through TARA that the school accepts."),
    )
    tara_level = models.CharField(
        _("TARA assurance level required"),
        max_length=12,
        choices=AssuranceLevel.choices,
        default=AssuranceLevel.SUBSTANTIAL,
        help_text=_("ID-card, Mobile-ID and Smart-ID are substantial or high."),
    )
    harid_login = models.BooleanField(_("log in and apply with HarID"), default=False)
    known_guardians = models.CharField(
        _("verified parents listed as guardians"),
        max_length=10,
        choices=KnownGuardians.choices,
        default=KnownGuardians.QUEUE,
        help_text=_(
            "When a parent who proved their identity is listed in the school's records as the "
            "guardian of every child they apply for."
        ),
    )
    admins_require_tara = models.BooleanField(
        _("administrators log in only through TARA"),
        default=False,
        help_text=_(
            "Administrators of the school log in to the admin with ID-card, Mobile-ID or "
            "Smart-ID instead of a password and an authenticator app."
        ),
    )
    # The school's contact, shown to parents (rejection e-mail, status page, error pages,
    # footer). All optional; the e-mail and the phone are checked in the admin form.
    office_email = models.EmailField(
        _("office e-mail"),
        blank=True,
        help_text=_("Where parents write with questions, for example kantselei@jpk.ee."),
    )
    phone = models.CharField(
        _("phone"),
        max_length=20,
        blank=True,
        help_text=_("The office's phone number, for example 776 1234."),
    )
    postal_address = models.CharField(
        _("postal address"),
        max_length=300,
        blank=True,
        help_text=_("For example Tähe 3, 48105 Jõgeva."),
    )
    office_hours = models.CharField(
        _("office hours"),
        max_length=200,
        blank=True,
        help_text=_("For example Mon-Fri 8.00-16.00."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("school")
        verbose_name_plural = _("schools")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_contact(self) -> bool:
        """Whether any of the office's contact details is filled in."""
        return any(getattr(self, field) for field in CONTACT_FIELDS)

    def offered_identity_providers(self) -> list[str]:
        """The identity providers (koolivarav.identity) the installation has and the school
        offers, in the order their buttons are shown."""
        offered = {"tara": self.tara_login, "harid": self.harid_login}
        return [name for name in settings.IDENTITY_PROVIDERS if offered.get(name)]

    @property
    def phone_as_written(self) -> str:
        return phone_as_written(self.phone) if self.phone else ""


# The school's contact for parents; a school's own administrators may change these.
CONTACT_FIELDS = ("office_email", "phone", "postal_address", "office_hours")
# How parents may prove their identity; a school's own administrators may change these too.
IDENTITY_FIELDS = ("tara_login", "tara_methods", "tara_level", "harid_login", "known_guardians")


class SchoolHost(models.Model):
    """A host name a school's portal answers on; the request's Host header finds the school."""

    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="hosts", verbose_name=_("school")
    )
    hostname = models.CharField(
        _("host name"),
        max_length=253,
        unique=True,
        help_text=_("Without a port or path, for example jpk.ope.ee."),
    )

    class Meta:
        verbose_name = _("host name")
        verbose_name_plural = _("host names")
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # Host headers are case-insensitive; the lookup compares lower case.
        self.hostname = self.hostname.strip().lower()
        super().save(*args, **kwargs)


class Student(models.Model):
    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="students", verbose_name=_("school")
    )
    id_code = models.CharField(_("ID code"), max_length=11, validators=[validate_id_code])
    first_name = models.CharField(
        _("first name"), max_length=150, validators=[validate_person_name]
    )
    last_name = models.CharField(_("last name"), max_length=150, validators=[validate_person_name])
    class_name = models.CharField(
        _("class"), max_length=20, help_text=_("For example 7.b."), validators=[validate_class_name]
    )
    is_active = models.BooleanField(
        _("studies at the school"),
        default=True,
        help_text=_("Parents can apply only for students who study at the school."),
    )
    guardian_id_codes = models.JSONField(
        _("guardians' ID codes"),
        default=list,
        blank=True,
        help_text=_("ID codes of the parents the school's own records list for this student."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("student")
        verbose_name_plural = _("students")
        ordering = ["class_name", "last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "id_code"],
                name="student_id_code_unique_per_school",
                violation_error_message=_("This school already has a student with this ID code."),
            ),
        ]
        indexes = [
            models.Index(Lower("last_name"), "school", name="student_last_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.class_name})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class StudentImport(models.Model):
    """A student list uploaded in the admin and imported by the worker (services.run_import).

    The request only keeps the file and queues the work, so a list of any length answers at
    once; the worker checks every row, writing how far it is (`rows_checked`), and then saves
    all rows in one short transaction, or none when any row is wrong. The file itself is
    wiped when the import ends; what is kept is the outcome, and the problems by row.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("waiting for the worker")
        READING = "reading", _("reading the file")
        CHECKING = "checking", _("checking the rows")
        SAVING = "saving", _("saving")
        IMPORTED = "imported", _("imported")
        CHECKED = "checked", _("checked, nothing imported")
        REFUSED = "refused", _("not imported: the file has problems")
        FAILED = "failed", _("not imported: an error")

    RUNNING = (State.QUEUED, State.READING, State.CHECKING, State.SAVING)

    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="student_imports", verbose_name=_("school")
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    file_name = models.CharField(_("file"), max_length=255)
    # The uploaded file, for the worker (which may run on another machine); wiped at the end.
    data = models.BinaryField(editable=False)
    check_only = models.BooleanField(_("only check"), default=False)
    # The uploader's language: the worker writes the problems in it.
    language = models.CharField(_("language"), max_length=5, default="et")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    total_rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    rows_checked = models.PositiveIntegerField(_("rows checked"), default=0)
    new = models.PositiveIntegerField(_("new"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    problem_count = models.PositiveIntegerField(_("problems"), default=0)
    # The first problems, by row: [{"row": 12, "message": "..."}] (row 0: the file itself).
    problems = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # When the worker last wrote a step or its progress (services.end_stalled_imports).
    progress_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("student list import")
        verbose_name_plural = _("student list imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.file_name

    @property
    def is_running(self) -> bool:
        return self.state in self.RUNNING
