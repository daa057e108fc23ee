"""Reads of applications for the review."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.db import NotSupportedError
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextChoices,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from koolivarav.accounts.models import User
from koolivarav.accounts.services import LOGIN_DETAILS
from koolivarav.notifications.models import Email
from koolivarav.schools.models import School, Student

from .models import HELD_BACK, Application, Question
from .services import STATUS_LINK_SALT, status_link_days

# Pending first; among them a verified parent the records list as the guardian of every child
# (a one-click decision) first; then the newest. The index application_queue_idx covers it.
REVIEW_ORDER = ["queue_rank", "-listed_as_guardian", "-created_at", "-pk"]


class Records(TextChoices):
    """What the school's records say of an application: for how many of its children they
    list the applicant (by ID code) as a guardian."""

    ALL = "all", _("all children")
    SOME = "some", _("some children")
    NONE = "none", _("no child")


class ListsGuardian(Func):
    """Whether a student's `guardian_id_codes` (a JSON list) holds an ID code, in SQL.

    Django's `contains` lookup on a JSONField takes no expression (and SQLite has none), so
    each database gets its own form: PostgreSQL's jsonb containment, SQLite's json_each."""

    arity = 2
    output_field = BooleanField()

    def as_sql(self, compiler: SQLCompiler, connection: Any, *args: Any, **extra: Any) -> Any:
        raise NotSupportedError(f"ListsGuardian is not written for {connection.vendor}.")

    def _compiled(self, compiler: SQLCompiler) -> tuple[str, str, list[Any]]:
        guardians, code = (compiler.compile(e) for e in self.get_source_expressions())
        return guardians[0], code[0], [*guardians[1], *code[1]]

    def as_postgresql(self, compiler: SQLCompiler, connection: Any, **extra: Any) -> Any:
        guardians, code, params = self._compiled(compiler)
        return f"({guardians} @> jsonb_build_array(({code})::text))", params

    def as_sqlite(self, compiler: SQLCompiler, connection: Any, **extra: Any) -> Any:
        guardians, code, params = self._compiled(compiler)
        # Both parts are compiled SQL of the expression's own columns; values are params.
        sql = f"EXISTS (SELECT 1 FROM json_each({guardians}) AS guardian WHERE guardian.value = ({code}))"  # noqa: S608, E501  # nosec B608
        return sql, params


def _children_listing(*, listed: bool) -> QuerySet[Student]:
    """The row's children whose records do (or do not) list the row's applicant."""
    return (
        Student.objects.filter(applications=OuterRef("pk"))
        .alias(listed=ListsGuardian("guardian_id_codes", OuterRef("parent_id_code")))
        .filter(listed=listed)
    )


def records_annotation() -> Case:
    """`Records` of each row, worked out by the database when the row is read.

    Computed, not stored: the records change outside this app (the school imports its list
    in bulk, without signals, and `schools` may not call `applications`), and a stored word
    would be stale exactly on the morning it matters. Two EXISTS per row, each a few index
    lookups, evaluated only for the rows a page shows (the queue's ORDER BY … LIMIT comes
    from application_queue_idx), so the page costs the same at any size."""
    listing, not_listing = (
        Exists(_children_listing(listed=True)),
        Exists(_children_listing(listed=False)),
    )
    return Case(
        When(listing & ~not_listing, then=Value(Records.ALL)),
        When(listing, then=Value(Records.SOME)),
        default=Value(Records.NONE),
    )


def _failed_emails() -> QuerySet[Email]:
    """E-mails to the row's applicant that the mail server finally refused (receipt,
    question, decision or login details: all go to the application's address)."""
    return Email.objects.filter(
        school=OuterRef("school"),
        to_address=OuterRef("email"),
        status=Email.Status.FAILED,
        created_at__gte=OuterRef("created_at"),
    )


def review_queue(queryset: QuerySet[Application]) -> QuerySet[Application]:
    """Pending applications first, newest first within each group, children prefetched,
    each marked `in_conflict` when another pending application names the same parent, with
    `records` (see `Records`) and `email_failed`. The number of queries does not depend on
    the number of rows."""
    return (
        queryset.annotate(
            in_conflict=Exists(_others_pending(OuterRef("pk"))),
            records=records_annotation(),
            email_failed=Exists(_failed_emails()),
        )
        .order_by(*REVIEW_ORDER)
        .prefetch_related("children", "child_decisions")
    )


def next_to_review(queryset: QuerySet[Application], *, after: Application) -> Application | None:
    """The pending application after `after` in the queue's order (wrapping round to the
    top), leaving out those held back and those waiting for the parent's answer; None when
    no other is left. `queryset` is the reviewer's (their school's) applications.

    Two index range reads on application_queue_idx (LIMIT 1 each): after `after`, and
    from the top."""
    waiting = queryset.filter(status=Application.Status.PENDING).exclude(HELD_BACK)
    waiting = waiting.exclude(question_state=Application.QuestionState.ASKED).exclude(pk=after.pk)
    later = Q(listed_as_guardian__lt=after.listed_as_guardian) | Q(
        listed_as_guardian=after.listed_as_guardian, created_at__lt=after.created_at
    )
    later |= Q(
        listed_as_guardian=after.listed_as_guardian,
        created_at=after.created_at,
        pk__lt=after.pk,
    )
    ordered = waiting.order_by(*REVIEW_ORDER).prefetch_related(None)
    # Both reads always (not the second only when the first finds none): a page costs the
    # same number of queries wherever its application stands in the queue.
    after_it, top = ordered.filter(later).first(), ordered.first()
    return after_it or top


def failed_emails_of(application: Application) -> list[Email]:
    """The e-mails to this application's address that could not be delivered."""
    return list(
        Email.objects.filter(
            school=application.school_id,
            to_address=application.email,
            status=Email.Status.FAILED,
            created_at__gte=application.created_at,
        ).order_by("-created_at")[:10]
    )


def _others_pending(pk: Any, *, of: Application | None = None) -> QuerySet[Application]:
    if of is None:
        same_parent = Application.objects.filter(
            school=OuterRef("school"),
            parent_id_code=OuterRef("parent_id_code"),
            status=Application.Status.PENDING,
        )
    else:
        same_parent = Application.objects.filter(
            school=of.school_id,
            parent_id_code=of.parent_id_code,
            status=Application.Status.PENDING,
        )
    # One held back until its address is confirmed is no rival yet: it cannot be approved.
    return same_parent.exclude(pk=pk).exclude(HELD_BACK)


def conflicting_applications(application: Application) -> list[Application]:
    """The other pending applications with this one's parent ID code: they differ in the
    e-mail address or the phone (the same data would have joined this one), so at most one
    of them comes from the parent. Empty once this application is decided."""
    if application.status != Application.Status.PENDING:
        return []
    return list(
        _others_pending(application.pk, of=application)
        .order_by("created_at", "pk")
        .prefetch_related("children")
    )


@dataclass(frozen=True)
class ChildMatch:
    student: Student
    parent_is_known_guardian: bool


@dataclass(frozen=True)
class MatchCard:
    children: list[ChildMatch]
    existing_account: User | None
    email_in_use_by_other: bool


def match_card(application: Application) -> MatchCard:
    """What the school's records say about this application, for the reviewer."""
    code = application.parent_id_code
    account = User.objects.filter(school=application.school_id, id_code=code).first()
    email_in_use = (
        account is None
        and User.objects.filter(
            school=application.school_id, email__iexact=application.email
        ).exists()
    )
    return MatchCard(
        children=[
            ChildMatch(student=s, parent_is_known_guardian=code in (s.guardian_id_codes or []))
            for s in application.children.all()
        ],
        existing_account=account,
        email_in_use_by_other=email_in_use,
    )


# --- the status page --------------------------------------------------------------------------


def masked_email(address: str) -> str:
    """The address as the pages show it: "m•••@example.ee"."""
    local, _at, domain = address.rpartition("@")
    return f"{local[:1]}•••@{domain}"


class StatusLinkInvalid(Exception):
    """Not a link this portal made (or its application is gone): shown as not found."""


class StatusLinkExpired(Exception):
    """A genuine link past its time: the page offers to send a new one."""


def last_question(application: Application) -> Question | None:
    """The school's latest question on this application (from the prefetch when there is
    one: `questions` is ordered oldest first)."""
    questions = list(application.questions.all())
    return questions[-1] if questions else None


def application_for_status_token(*, school: School, token: str) -> Application:
    """The application a receipt's link names, at this school.

    Raises StatusLinkExpired for a genuine but old link, StatusLinkInvalid for anything else
    (tampered, another school's, or an application no longer kept)."""
    try:
        pk = signing.loads(token, salt=STATUS_LINK_SALT, max_age=timedelta(days=status_link_days()))
    except signing.SignatureExpired as error:
        raise StatusLinkExpired from error
    except signing.BadSignature as error:
        raise StatusLinkInvalid from error
    application = _application_at(school=school, pk=pk)
    if application is None:
        raise StatusLinkInvalid
    return application


def application_for_expired_token(*, school: School, token: str) -> Application | None:
    """The application of a genuine link of any age (to send its receipt again), or None."""
    try:
        pk = signing.loads(token, salt=STATUS_LINK_SALT)
    except signing.BadSignature:
        return None
    return _application_at(school=school, pk=pk)


def _application_at(*, school: School, pk: object) -> Application | None:
    if type(pk) is not int:
        return None
    return (
        Application.objects.select_related("school", "account")
        .annotate(children_count=Count("children"))
        .prefetch_related("questions", "child_decisions")
        .filter(pk=pk, school=school)
        .first()
    )


@dataclass(frozen=True)
class ApplicationStatus:
    """What the status page says of one application, in the order a parent reads it.

    It names no child and shows no ID code: the page is open to whoever has the receipt,
    and the receipt went to an address someone typed in."""

    state: str  # "held", "waiting", "asked" (for the parent's answer), "approved", "rejected"
    submitted_at: datetime
    children_count: int
    masked_email: str
    email_confirmed_at: datetime | None
    waiting_since: datetime | None
    decided_at: datetime | None
    rejection_reason: str
    # Approved: when the login details went (None while on the way), or that the children
    # were added to the account the parent had already.
    login_details_sent_at: datetime | None = None
    login_details_on_the_way: bool = False
    added_to_existing_account: bool = False
    # Approved at once by the school's records (a verified parent listed as the guardian of
    # every child; School.known_guardians): no login details, they log in as they applied.
    approved_by_records: bool = False
    # The school's last question to the parent, and the answer ("asked": waiting for it).
    question: str = ""
    question_asked_at: datetime | None = None
    answer: str = ""
    answered_at: datetime | None = None
    # Approved for some children only: how many were not added (the e-mail names them).
    children_not_added: int = 0


def status_of(application: Application) -> ApplicationStatus:
    """The state of an application in plain words (see ApplicationStatus)."""
    children_count = getattr(application, "children_count", None)
    if children_count is None:
        children_count = application.children.count()
    status = ApplicationStatus(
        state="held",
        submitted_at=application.created_at,
        children_count=children_count,
        masked_email=masked_email(application.email),
        email_confirmed_at=application.email_confirmed_at,
        waiting_since=None,
        decided_at=application.decided_at,
        rejection_reason=application.rejection_reason,
    )
    if application.is_held_back:
        return status
    if application.question_state:
        question = last_question(application)
        if question is not None:
            status = replace(
                status,
                question=question.text,
                question_asked_at=question.asked_at,
                answer=question.answer,
                answered_at=question.answered_at,
            )
    if application.status == Application.Status.PENDING:
        if application.is_waiting_for_parent:
            return replace(status, state="asked")
        since = application.created_at
        if application.held_until_confirmed and application.email_confirmed_at:
            since = application.email_confirmed_at
        if status.answered_at:
            since = status.answered_at
        return replace(status, state="waiting", waiting_since=since)
    if application.status == Application.Status.REJECTED:
        return replace(status, state="rejected")
    status = replace(
        status,
        children_not_added=sum(not d.approved for d in application.child_decisions.all()),
    )
    login_details = (
        Email.objects.filter(
            school=application.school_id,
            kind=LOGIN_DETAILS,
            context__user_id=application.account_id,
            created_at__gte=application.decided_at,
        )
        .order_by("-created_at")
        .first()
        if application.account_id and application.decided_at
        else None
    )
    return replace(
        status,
        state="approved",
        login_details_sent_at=login_details.sent_at if login_details else None,
        login_details_on_the_way=bool(login_details and login_details.sent_at is None),
        added_to_existing_account=login_details is None,
        approved_by_records=application.listed_as_guardian
        and application.is_verified
        and application.decided_by_id is None,
    )


RECENT_DECISIONS = timedelta(days=30)


def application_statuses_of_parent(*, user: User) -> list[ApplicationStatus]:
    """The logged-in parent's applications at their school (by their ID code): the pending
    ones and those decided within RECENT_DECISIONS, newest first."""
    if not user.is_authenticated or not user.school_id or not user.id_code:
        return []
    # Most parents have none: then this one plain query is all, and it compiles cheaply
    # (no GROUP BY, no join: the school is the request's own).
    applications = list(
        Application.objects.filter(school=user.school_id, parent_id_code=user.id_code)
        .filter(
            Q(status=Application.Status.PENDING)
            | Q(decided_at__gte=timezone.now() - RECENT_DECISIONS)
        )
        .order_by("-created_at", "-pk")[:10]
    )
    if not applications:
        return []
    counts = dict(
        Application.children.through.objects.filter(application__in=applications)
        .values_list("application")
        .annotate(n=Count("*"))
        .order_by()
    )
    for application in applications:
        application.children_count = counts.get(application.pk, 0)  # type: ignore[attr-defined]
    prefetch_related_objects(applications, "questions", "child_decisions")
    return [status_of(application) for application in applications]
