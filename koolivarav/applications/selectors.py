"""Reads of applications for the review."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from koolivarav.accounts.models import User
from koolivarav.schools.models import Student

from .models import Application

REVIEW_ORDER = ["queue_rank", "-created_at", "-pk"]


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
    return same_parent.exclude(pk=pk)


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
