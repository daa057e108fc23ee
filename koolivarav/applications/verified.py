"""A parent who proved their identity before applying (koolivarav.identity puts them here):
their ID code and names come from the provider, kept in the server-side session while they
fill in the application, and are not theirs to edit."""

import time
from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest

from koolivarav.schools.models import School

VERIFIED_KEY = "application_verified_parent"


@dataclass(frozen=True)
class VerifiedParent:
    id_code: str
    first_name: str
    last_name: str
    method: str  # schools.models.IdentityMethod
    level: str  # schools.models.AssuranceLevel; "" when the provider does not say (HarID)
    verified_at: str  # ISO 8601

    @property
    def verified_moment(self) -> datetime:
        return datetime.fromisoformat(self.verified_at)


def remember_verified_parent(
    request: HttpRequest, *, school: School, parent: VerifiedParent
) -> None:
    request.session[VERIFIED_KEY] = {
        "school_id": school.pk,
        "saved_at": time.time(),
        "parent": asdict(parent),
    }


def verified_parent(request: HttpRequest) -> VerifiedParent | None:
    """The parent verified in this session for the request's school, while it is fresh (as
    long as step 1's data keeps)."""
    stored = request.session.get(VERIFIED_KEY)
    if not isinstance(stored, dict):
        return None
    age = time.time() - stored.get("saved_at", 0)
    school = getattr(request, "school", None)
    if (
        school is None
        or stored.get("school_id") != school.pk
        or not 0 <= age <= settings.KOOLIVARAV["APPLICATION_STEP_SECONDS"]
    ):
        return None
    try:
        return VerifiedParent(**stored["parent"])
    except (KeyError, TypeError):
        return None


def forget_verified_parent(request: HttpRequest) -> None:
    request.session.pop(VERIFIED_KEY, None)
