"""Reads of applications for the review."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from koolivarav.accounts.models import User
from koolivarav.accounts.services import LOGIN_DETAILS
from koolivarav.notifications.models import Email
from koolivarav.schools.models import School, Student

from .models import HELD_BACK, Application
from .services import STATUS_LINK_SALT, status_link_days

# Pending first; among them a verified parent the records list as the guardian of every child
# (a one-click decision) first; then the newest. The index application_queue_idx covers it.
REVIEW_ORDER = ["queue_rank", "-listed_as_guardian", "-created_at", "-pk"]


def review_queue(queryset: QuerySet[Application]) -> QuerySet[Application]:
    """Pending applications first, newest first within each group, children prefetched,
    each marked `in_conflict` when another pending application names the same parent."""
    return (
        queryset.annotate(in_conflict=Exists(_others_pending(OuterRef("pk"))))
        .order_by(*REVIEW_ORDER)
        .prefetch_related("children")
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
        .filter(pk=pk, school=school)
        .first()
    )


@dataclass(frozen=True)
class ApplicationStatus:
    """What the status page says of one application, in the order a parent reads it.

    It names no child and shows no ID code: the page is open to whoever has the receipt,
    and the receipt went to an address someone typed in."""

    state: str  # "held", "waiting", "approved" or "rejected"
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
    if application.status == Application.Status.PENDING:
        since = application.created_at
        if application.held_until_confirmed and application.email_confirmed_at:
            since = application.email_confirmed_at
        return replace(status, state="waiting", waiting_since=since)
    if application.status == Application.Status.REJECTED:
        return replace(status, state="rejected")
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
    applications = (
        Application.objects.filter(school=user.school_id, parent_id_code=user.id_code)
        .filter(
            Q(status=Application.Status.PENDING)
            | Q(decided_at__gte=timezone.now() - RECENT_DECISIONS)
        )
        .select_related("school")
        .annotate(children_count=Count("children"))
        .order_by("-created_at", "-pk")[:10]
    )
    return [status_of(application) for application in applications]
