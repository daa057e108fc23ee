"""Logging in a person whose identity an outside provider has verified (koolivarav.identity).

The provider's answer replaces the password: the account of that ID code at the request's
school is logged in. A TARA log-in at the level "substantial" or "high" (ID-card, Mobile-ID,
Smart-ID) is itself two factors, so it also stands in for the admin's second factor; a school
may require it of its administrators instead of a password and an authenticator app.
"""

from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest

from koolivarav.schools.models import AssuranceLevel, School

from .models import User

BACKEND = "koolivarav.accounts.backends.SchoolUserBackend"
SECOND_FACTOR_KEY = "verified_second_factor"
# The levels at which a TARA log-in counts as the second factor.
SECOND_FACTOR_LEVELS = (AssuranceLevel.SUBSTANTIAL, AssuranceLevel.HIGH)


def verified_account(*, school: School, id_code: str) -> User | None:
    """The active account of this ID code at the school (never an operator's: operators
    belong to no school and log in with a password and a code)."""
    return User.objects.filter(school=school, id_code=id_code, is_active=True).first()


def log_in_verified(*, request: HttpRequest, user: User, provider: str, level: str) -> None:
    """Log the user in on the provider's word.

    A temporary password sent by e-mail is no longer needed: it stops working now (whoever
    else reads that e-mail cannot use it), and the person is not asked to change it.
    """
    if user.must_change_password:
        with transaction.atomic():
            user.set_unusable_password()
            user.must_change_password = False
            user.temporary_password_expires_at = None
            user.save(
                update_fields=["password", "must_change_password", "temporary_password_expires_at"]
            )
    login(request, user, backend=BACKEND)
    if provider == "tara" and level in SECOND_FACTOR_LEVELS:
        request.session[SECOND_FACTOR_KEY] = {"user": user.pk, "level": level}


def has_verified_second_factor(request: HttpRequest) -> bool:
    """Whether this session's user logged in through TARA at a level that is two factors."""
    user = getattr(request, "user", None)
    marked = request.session.get(SECOND_FACTOR_KEY)
    return bool(
        user is not None
        and user.is_authenticated
        and isinstance(marked, dict)
        and marked.get("user") == user.pk
        and marked.get("level") in SECOND_FACTOR_LEVELS
    )
