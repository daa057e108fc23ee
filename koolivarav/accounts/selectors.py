"""Reads of accounts."""

from django.db.models import QuerySet

from koolivarav.schools.models import Student

from .models import User


def children_of(*, user: User) -> QuerySet[Student]:
    """The user's own children at their school, with the school in the same query."""
    return (
        user.children.filter(school=user.school_id)
        .select_related("school")
        .order_by("last_name", "first_name")
    )
