"""Reads of accounts."""

from typing import Any

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


def listed_children_of(*, user: User) -> list[Student]:
    """`children_of(user)` as a list: for the request's own user, the children its session was
    read with (accounts.sessions), without another query."""
    loaded = getattr(user, "loaded_children", None)
    return list(loaded) if loaded is not None else list(children_of(user=user))


def personal_data_of(*, user: User) -> dict[str, Any]:
    """Everything the school's portal keeps about this parent, for them to download.

    ID codes are left out: they are shown only to the school's administrators (ask the school).
    """
    return {
        "account": {
            "school": user.school.name if user.school else None,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "phone": user.phone,
            "address": user.address,
            "language": user.language,
            "joined": user.date_joined.isoformat(),
            "last_login": user.last_login.isoformat() if user.last_login else None,
        },
        "children": [
            {
                "first_name": c.first_name,
                "last_name": c.last_name,
                "class": c.class_name,
                "school": c.school.name,
            }
            for c in children_of(user=user)
        ],
        # Through the reverse relation: accounts does not import the applications app.
        "applications": [
            {
                "submitted": a.created_at.isoformat(),
                "status": a.status,
                "decided": a.decided_at.isoformat() if a.decided_at else None,
                "first_name": a.first_name,
                "last_name": a.last_name,
                "email": a.email,
                "phone": a.phone,
            }
            for a in user.applications.order_by("created_at")  # type: ignore[attr-defined]
        ],
        "note": "ID codes are not included: only the school's administrators see them.",
    }
