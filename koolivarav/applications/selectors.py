"""Reads of applications for the review."""

from dataclasses import dataclass

from django.db.models import QuerySet

from koolivarav.accounts.models import User
from koolivarav.schools.models import Student

from .models import Application

REVIEW_ORDER = ["queue_rank", "-created_at", "-pk"]


def review_queue(queryset: QuerySet[Application]) -> QuerySet[Application]:
    """Pending applications first, newest first within each group, children prefetched."""
    return queryset.order_by(*REVIEW_ORDER).prefetch_related("children")


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
