"""Login by e-mail address or by first and last name, within the request's school."""

import hashlib
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from koolivarav.schools.models import School
from koolivarav.schools.text import name_key

from .models import User
from .sessions import preloaded_user


class SchoolUserBackend(ModelBackend):
    """Finds the users a login name can mean, then checks the password on each.

    The name is an e-mail address (any case) or first and last name, together or apart, in
    any case. Only the request's school's users (and operators) are candidates. When nothing
    matches, a password is still hashed, so the response time does not tell whether the name
    exists. When a name and password fit more than one account, nobody is logged in: the
    person has to use the e-mail address.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if not username or password is None:
            return None
        candidates = list(self.candidates(request=request, username=username))
        if not candidates:
            # Spend the time a real check would take (Django ticket #20760).
            User().set_password(password)
            return None
        matches = [
            user
            for user in candidates
            if user.check_password(password) and self.user_can_authenticate(user)
        ]
        if len(matches) == 1:
            return matches[0]
        return None

    def get_user(self, user_id: Any) -> User | None:  # type: ignore[override]
        # The request's user as its session read it (koolivarav.accounts.sessions), else a query.
        user = preloaded_user(user_id)
        if user is None:
            return super().get_user(user_id)  # type: ignore[return-value]
        return user if self.user_can_authenticate(user) else None

    def user_can_authenticate(self, user: User) -> bool:  # type: ignore[override]
        """Active, and not holding a temporary password past its expiry."""
        if not super().user_can_authenticate(user):
            return False
        expires = user.temporary_password_expires_at
        return not (user.must_change_password and expires is not None and expires <= timezone.now())

    def candidates(self, *, request: HttpRequest | None, username: str) -> list[User]:
        return accounts_named_in(request=request, username=username)


def accounts_named(*, school: School | None, username: str) -> list[User]:
    """The accounts a login name can mean at this school: its users and the operators."""
    scope = Q(school__isnull=True)
    if school is not None:
        scope |= Q(school=school)
    identifier = login_identifier(username)
    if not identifier or "\x00" in identifier:  # PostgreSQL takes no NUL in a string
        return []
    # Both lookups use an index: Lower(email) with the school, and name_key.
    lookup = Q(email__lower=identifier) if "@" in identifier else Q(name_key=identifier)
    return list(User.objects.filter(scope & lookup)[:20])


def accounts_named_in(*, request: HttpRequest | None, username: str) -> list[User]:
    """`accounts_named` at the request's school, looked up once per request and name: the
    lock-out key and the login itself ask for the same accounts."""
    school = getattr(request, "school", None)
    if request is None:
        return accounts_named(school=school, username=username)
    known: dict[str, list[User]] = request.__dict__.setdefault("_accounts_named", {})
    if username not in known:
        known[username] = accounts_named(school=school, username=username)
    return known[username]


def login_identifier(username: str) -> str:
    """The normal form of what was typed as a user name: lower-case e-mail, or name key."""
    text = username.strip()
    return text.lower() if "@" in text else name_key(text, "")


def person_key(*, school: School | None, username: str, accounts: list[User] | None = None) -> str:
    """Who a typed name means, for counting: "user:<id>" when it is exactly one account of
    the school, else "text:" and its normal form, so that every spelling of one person (the
    e-mail address in any case, the name in any spacing) shares one counter. `accounts` are
    the accounts the name means, when the caller has looked them up already."""
    if accounts is None:
        accounts = accounts_named(school=school, username=username)
    if len(accounts) == 1:
        return f"user:{accounts[0].pk}"
    identifier = login_identifier(username)
    if len(identifier) > 200:
        # axes keeps the name in a column of 255 characters; no real name is this long,
        # but an attacker's still counts, as the same key every time.
        identifier = "sha256:" + hashlib.sha256(identifier.encode()).hexdigest()
    return f"text:{identifier}"


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """django-axes' key for a user name: the person it means, counted separately at each
    school, so ten wrong passwords lock the person out however their name was typed.

    The lookup is the login's own indexed query, made for known and unknown names alike, and
    made once per request (axes asks several times)."""
    typed = str((credentials or {}).get("username") or request.POST.get("username", ""))
    school = getattr(request, "school", None)
    known: dict[str, str] = request.__dict__.setdefault("_lockout_keys", {})
    if typed not in known:
        accounts = accounts_named_in(request=request, username=typed)
        key = person_key(school=school, username=typed, accounts=accounts)
        known[typed] = f"{school.pk if school else '-'}:{key}"
    return known[typed]
