"""State changes of accounts: parent accounts, login details, the audit trail."""

import secrets
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from koolivarav.notifications.models import Email
from koolivarav.notifications.preparers import Prepared, SkipEmail, register
from koolivarav.notifications.services import queue_email
from koolivarav.schools.models import School, Student
from koolivarav.schools.signals import students_activity_changed

from . import throttling
from .backends import accounts_named, person_key
from .models import AuditEntry, User

LOGIN_DETAILS = "accounts.login_details"
CHILDREN_ADDED = "accounts.children_added"
PASSWORD_RESET = "accounts.password_reset"  # noqa: S105 - a kind of e-mail, not a secret


def record(
    *,
    school: School | None,
    actor: User | None,
    action: str,
    target: str,
    details: str = "",
    reference: str = "",
    before: str = "",
    after: str = "",
) -> None:
    AuditEntry.objects.create(
        school=school,
        actor=actor,
        action=action,
        target=target,
        details=details,
        reference=reference,
        before=before,
        after=after,
    )


REMOVED = "—"


def anonymise_audit_entries(*, references: list[str]) -> int:
    """Keep who decided what and when, but no longer about whom or why."""
    return AuditEntry.objects.filter(reference__in=references).update(
        target=REMOVED, details="", before="", after=""
    )


def account_of(*, school: School, id_code: str) -> User | None:
    """The school's account of the person with this ID code, if they have one."""
    return User.objects.filter(school=school, id_code=id_code).first()


def email_taken(*, school: School, email: str) -> bool:
    """Whether an account of the school already uses this e-mail address."""
    return User.objects.filter(school=school, email__iexact=email).exists()


def create_parent_account(
    *,
    school: School,
    id_code: str,
    first_name: str,
    last_name: str,
    email: str,
    phone: str,
    language: str,
    children: Iterable[Student],
    must_change_password: bool = True,
) -> User:
    """A new parent account with no usable password: the login-details e-mail brings one
    (or, for a parent who proved their identity, none: they log in through the provider)."""
    user = User(
        school=school,
        role=User.Role.PARENT,
        id_code=id_code,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        language=language,
        must_change_password=must_change_password,
    )
    user.set_unusable_password()
    user.save()
    user.children.add(*children)
    return user


def send_login_details(*, user: User) -> Email:
    """Queue the e-mail with a temporary password; the old password stops working now.

    The password itself is made when the e-mail is sent (see `_prepare_login_details`), so
    it is never stored in clear, not even in the outbox.
    """
    assert user.school is not None  # noqa: S101 - parents always belong to a school
    with transaction.atomic():
        user.set_unusable_password()
        user.must_change_password = True
        user.temporary_password_expires_at = None
        user.save(
            update_fields=["password", "must_change_password", "temporary_password_expires_at"]
        )
        return queue_email(
            school=user.school,
            to=user.email,
            kind=LOGIN_DETAILS,
            template="accounts/email/login_details",
            context={"user_id": user.pk},
            language=user.language,
        )


def resend_login_details(*, user: User, actor: User) -> Email:
    """An administrator's resend: a new temporary password; the old one stops working now.

    Only for a person the actor may take care of (see `User.may_change_account_of`): whoever
    reads the e-mail can log in as the person.
    """
    assert user.school is not None  # noqa: S101
    _check_may_change(actor=actor, user=user)
    with transaction.atomic():
        email = send_login_details(user=user)
        record(school=user.school, actor=actor, action=AuditEntry.Action.RESENT, target=str(user))
        return email


def log_in(*, request: HttpRequest, user: User) -> None:
    """Django's login, its writes in one transaction: the new session's row, `last_login` and
    django-axes' record of the login with the reset of its failure count commit together
    (one commit, instead of one for each and the session written twice)."""
    with transaction.atomic():
        auth_login(request, user)
        request.session.save()  # here, not at the end of the request (which then writes nothing)


def change_password(*, user: User, password: str) -> None:
    """The user's own password replaces the temporary one."""
    user.set_password(password)
    user.must_change_password = False
    user.temporary_password_expires_at = None
    user.save(update_fields=["password", "must_change_password", "temporary_password_expires_at"])


def send_children_added(*, user: User, children: Iterable[Student]) -> Email:
    assert user.school is not None  # noqa: S101
    return queue_email(
        school=user.school,
        to=user.email,
        kind=CHILDREN_ADDED,
        template="accounts/email/children_added",
        context={"children": [f"{c.first_name} {c.last_name} ({c.class_name})" for c in children]},
        language=user.language,
    )


def make_temporary_password(user: User) -> str:
    """8 hexadecimal characters from the operating system's CSPRNG, like "78ecd619".

    Regenerated until the password validators accept it (about 2 % are all digits).
    """
    while True:
        candidate = secrets.token_hex(4)
        try:
            validate_password(candidate, user)
        except ValidationError:
            continue
        return candidate


def _prepare_login_details(email: Email) -> Prepared:
    user = User.objects.filter(pk=email.context.get("user_id"), is_active=True).first()
    if user is None:
        raise SkipEmail("The account no longer exists or is not active.")
    password = make_temporary_password(user)
    # The e-mail says until when the password works: the moment it states is the one kept.
    expires_at = timezone.now() + timedelta(days=settings.KOOLIVARAV["TEMPORARY_PASSWORD_DAYS"])

    def keep_password_hash() -> None:
        # Only the hash is kept, in the transaction that marks the e-mail sent.
        user.set_password(password)
        user.must_change_password = True
        user.temporary_password_expires_at = expires_at
        user.save(
            update_fields=["password", "must_change_password", "temporary_password_expires_at"]
        )

    return Prepared(
        context={"password": password, "user": user, "expires_at": expires_at},
        on_sent=keep_password_hash,
    )


register(LOGIN_DETAILS, _prepare_login_details)


def send_password_reset(*, user: User) -> Email:
    """Queue the one-time reset link; the link itself is made when the e-mail is sent, so no
    usable token is ever stored."""
    assert user.school is not None  # noqa: S101
    return queue_email(
        school=user.school,
        to=user.email,
        kind=PASSWORD_RESET,
        template="accounts/email/password_reset",
        context={"user_id": user.pk},
        language=get_language() or user.language,
    )


def _prepare_password_reset(email: Email) -> Prepared:
    user = User.objects.filter(pk=email.context.get("user_id"), is_active=True).first()
    if user is None:
        raise SkipEmail("The account no longer exists or is not active.")
    portal = urlsplit(email.school.portal_url)
    path = reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    # The link is built from the school's configured address, never from a request's Host.
    return Prepared(context={"reset_url": f"{portal.scheme}://{portal.netloc}{path}"})


register(PASSWORD_RESET, _prepare_password_reset)


# --- Password reset by e-mail address or name: the worker looks the person up -------------------


def request_password_reset(*, school: School, identifier: str, language: str) -> None:
    """Hand a reset request to the worker, whoever it is for.

    Nothing here depends on whether anyone has this address or name: the request does the
    same work for every text, so its answer and its timing tell nobody who has an account.
    The text (maybe an e-mail address) travels only in the task, which drops it once started.
    """
    from .tasks import send_password_reset_task

    send_password_reset_task.enqueue(school_id=school.pk, identifier=identifier, language=language)


def answer_password_reset_request(*, school_id: int, identifier: str, language: str) -> int:
    """The worker's half of a reset request: queue a link for each account of the school the
    text means (found as the login finds them), at most so many per person an hour.

    The limit counts the account, not the spelling: "Mari Maasikas", "MariMaasikas" and her
    address in capitals share one counter; a text that fits nobody counts as its normal form.
    Returns how many links were queued.
    """
    school = School.objects.filter(pk=school_id).first()
    if school is None:
        return 0
    limit = throttling.limit("password_reset_per_identifier")
    accounts = [
        user
        for user in accounts_named(school=school, username=identifier)
        # Operators reset their password by other means; only the school's users get links.
        if user.school_id == school.pk and user.is_active and user.has_usable_password()
    ]
    if not accounts:
        throttling.hit(limit, f"{school.pk}:{person_key(school=school, username=identifier)}")
        return 0
    queued = 0
    languages = {code for code, _name in settings.LANGUAGES}
    with translation.override(language if language in languages else None):
        for user in accounts:
            if throttling.hit(limit, f"{school.pk}:user:{user.pk}"):
                send_password_reset(user=user)
                queued += 1
    return queued


# --- The administrators' second factor (TOTP) and its recovery codes --------------------------

RECOVERY_CODE_COUNT = 10
# Ten characters of an alphabet without 0, O, 1, I and L (the codes are read off paper and
# typed by hand): about 49 bits each, shown as two groups of five such as "7KQ2M-XR4TD".
RECOVERY_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECOVERY_CODE_LENGTH = 10
# With this many codes or fewer left, the admin asks for new ones.
RECOVERY_CODES_FEW = 3
RECOVERY_CODES_DEVICE_NAME = "Recovery codes"
_RECOVERY_CODE_SALT = "koolivarav.accounts.recovery_code"


def second_factor_enrolment(*, user: User) -> TOTPDevice:
    """The authenticator app this person is setting up: one unconfirmed device, kept until
    they confirm it with a code, so reloading the page shows the same QR code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Koolivärav", confirmed=False)
    return device


def confirm_second_factor(*, user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """The person's first recovery codes when the app shows the right code (the device then
    counts for every later login); None when it does not.

    The codes are made in the same transaction as the confirmation: nobody has an app and no
    way back in when the phone is lost.
    """
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        if device.confirmed or not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        if user.school_id is not None:
            record(
                school=user.school,  # type: ignore[arg-type]
                actor=user,
                action=AuditEntry.Action.SECOND_FACTOR_ENROLLED,
                target=user.get_full_name(),
            )
        return make_recovery_codes(user=user)


def recovery_code_from(text: str) -> str | None:
    """The recovery code in what was typed, as it is hashed; None when it cannot be one.

    Spaces, hyphens and lower case are forgiven: the codes are copied from paper.
    """
    code = "".join(text.split()).replace("-", "").upper()
    if len(code) == RECOVERY_CODE_LENGTH and all(ch in RECOVERY_CODE_ALPHABET for ch in code):
        return code
    return None


def _recovery_code_digests(code: str) -> list[str]:
    """What django-otp's StaticToken.token holds for this code: a keyed hash, never the code.

    django-otp keeps static tokens in clear; hashed, a copy of the database, the SQL log at
    DEBUG and django-otp's own admin show nothing that passes the second factor. Every key
    still accepted (SECRET_KEY_FALLBACKS) gives a digest, so rotating the key keeps the codes.
    The field holds 16 characters: 64 bits of the HMAC, plenty for 49 bits of code.
    """
    return [
        salted_hmac(_RECOVERY_CODE_SALT, code, secret=key, algorithm="sha256").hexdigest()[:16]
        for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ]


def make_recovery_codes(*, user: User) -> list[str]:
    """New recovery codes for the person, grouped for reading; earlier ones stop working now.

    The codes exist in clear only in the returned list, to be shown once: what is stored are
    their digests (see `_recovery_code_digests`).
    """
    codes = [
        "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    with transaction.atomic():
        device = StaticDevice.objects.select_for_update().filter(user=user).order_by("pk").first()
        if device is None:
            device = StaticDevice.objects.create(user=user, name=RECOVERY_CODES_DEVICE_NAME)
        # The device stays (a session it verified stays verified); its codes are replaced.
        device.token_set.all().delete()
        StaticToken.objects.bulk_create(
            StaticToken(device=device, token=_recovery_code_digests(code)[0]) for code in codes
        )
        record(
            school=user.school,
            actor=user,
            action=AuditEntry.Action.RECOVERY_CODES_MADE,
            target=user.get_full_name(),
            reference=_reference(user),
            after=str(len(codes)),
        )
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def recovery_codes_left(*, user: User) -> int:
    """How many of the person's recovery codes are still unused."""
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _use_recovery_code(device: StaticDevice, code: str) -> bool:
    # django-otp's own check (its throttling; the token deleted once it matched), given the
    # digest that is stored if any of them is.
    digests = _recovery_code_digests(code)
    stored = device.token_set.filter(token__in=digests).values_list("token", flat=True).first()
    return bool(device.verify_token(stored or digests[0]))


def verify_second_factor(*, user: User, code: str) -> TOTPDevice | StaticDevice | None:
    """The device that accepts this code: the authenticator app its six digits, the recovery
    codes one of theirs (used up then, and recorded); None for a wrong code.

    Both kinds share one back-off: a wrong code of either kind slows down the next try of
    both, so the recovery codes give a guesser no tries of their own; a right one frees both.
    """
    recovery_code = recovery_code_from(code)
    with transaction.atomic():
        apps = list(TOTPDevice.objects.filter(user=user, confirmed=True).select_for_update())
        recovery = list(StaticDevice.objects.filter(user=user, confirmed=True).select_for_update())
        accepted: TOTPDevice | StaticDevice | None
        if recovery_code is None:
            accepted = next((device for device in apps if device.verify_token(code)), None)
            untried: list[TOTPDevice | StaticDevice] = [*recovery]
        else:
            accepted = next((d for d in recovery if _use_recovery_code(d, recovery_code)), None)
            untried = [*apps]
        # The devices tried counted the attempt themselves (django-otp's throttling).
        for device in [*apps, *recovery]:
            if accepted is not None and device != accepted:
                device.throttle_reset()
            elif accepted is None and device in untried:
                device.throttle_increment()
        if isinstance(accepted, StaticDevice):
            record(
                school=user.school,
                actor=user,
                action=AuditEntry.Action.RECOVERY_CODE_USED,
                target=user.get_full_name(),
                reference=_reference(user),
                # How many codes are left after this one.
                after=str(recovery_codes_left(user=user)),
            )
    return accepted


def second_factor_wait_seconds(*, user: User) -> int:
    """How long this person must wait before the next code is checked (0: not paused)."""
    waits = []
    devices = [
        *TOTPDevice.objects.filter(user=user, confirmed=True),
        *StaticDevice.objects.filter(user=user, confirmed=True),
    ]
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if not allowed and data and "locked_until" in data:
            waits.append((data["locked_until"] - timezone.now()).total_seconds())
    return max(0, int(max(waits, default=0)) + 1) if waits else 0


def has_second_factor(*, user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def reset_second_factor(*, user: User, actor: User) -> bool:
    """A lost phone: the person sets up a new app at their next login, and is told so. The
    recovery codes go too (new ones come with the new app).

    False (and nothing recorded) when the person has no authenticator app to reset.
    """
    _check_may_change(actor=actor, user=user)
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        devices = TOTPDevice.objects.filter(user=user)
        confirmed = devices.filter(confirmed=True).count()
        if not devices.delete()[0]:
            return False
        record(
            school=user.school,
            actor=actor,
            action=AuditEntry.Action.SECOND_FACTOR_RESET,
            target=user.get_full_name(),
            reference=_reference(user),
            # How many confirmed authenticator apps the person had, and has now.
            before=str(confirmed),
            after="0",
        )
        _tell(user=user, actor=actor, kind=SECOND_FACTOR_RESET, to=user.email)
    return True


# --- Changes to a person's account: audited, and the person told -----------------------------

EMAIL_CHANGED = "accounts.email_changed"
ROLE_CHANGED = "accounts.role_changed"
SECOND_FACTOR_RESET = "accounts.second_factor_reset"


def _check_may_change(*, actor: User, user: User) -> None:
    # The admin never offers these changes to someone who may not make them; this is the
    # second line, for every other caller.
    if not actor.may_change_account_of(user):
        raise PermissionDenied


def _reference(user: User) -> str:
    return f"user:{user.pk}"


def _tell(*, user: User, actor: User, kind: str, to: str, **context: str) -> None:
    """Queue the notice of a change to the person, in their language.

    It says what changed and when, and by whom only as "you", "the school" or "the
    operators": never the administrator's name. The school is the sender, so operators, who
    belong to no school, are not told by e-mail (the audit trail still has the change).
    """
    if user.school is None:
        return
    if actor.pk == user.pk:
        changed_by = "self"
    elif actor.is_operator:
        changed_by = "operator"
    else:
        changed_by = "school"
    queue_email(
        school=user.school,
        to=to,
        kind=kind,
        template=f"accounts/email/{kind.partition('.')[2]}",
        context={
            "changed_at": timezone.localtime().strftime("%d.%m.%Y %H:%M"),
            "changed_by": changed_by,
            **context,
        },
        language=user.language,
    )


def change_email(*, user: User, new_email: str, actor: User) -> None:
    """A new e-mail address for the account; the old address is told, so that a person whose
    address was changed behind their back learns of it where they still read their mail."""
    _check_may_change(actor=actor, user=user)
    old_email = user.email
    if new_email == old_email:
        return
    with transaction.atomic():
        user.email = new_email
        user.save(update_fields=["email"])
        record(
            school=user.school,
            actor=actor,
            action=AuditEntry.Action.EMAIL_CHANGED,
            target=user.get_full_name(),
            reference=_reference(user),
            before=old_email,
            after=new_email,
        )
        _tell(user=user, actor=actor, kind=EMAIL_CHANGED, to=old_email)


def change_role(*, user: User, new_role: str, actor: User) -> None:
    """A new role (parent, school administrator); access to the admin site follows it."""
    if not actor.is_operator:
        # Who is an administrator is the operators' decision, not the school's.
        raise PermissionDenied
    old_role = user.role
    if new_role == old_role:
        return
    with transaction.atomic():
        user.role = new_role
        user.is_staff = user.is_superuser or new_role in (
            User.Role.SCHOOL_ADMIN,
            User.Role.OPERATOR,
        )
        user.save(update_fields=["role", "is_staff"])
        record(
            school=user.school,
            actor=actor,
            action=AuditEntry.Action.ROLE_CHANGED,
            target=user.get_full_name(),
            reference=_reference(user),
            before=old_role,
            after=new_role,
        )
        _tell(user=user, actor=actor, kind=ROLE_CHANGED, to=user.email, role=new_role)


# --- Nothing disappears without a trace: children and deactivation ---------------------------

# AuditEntry.before/after hold this much: a very long list of children is cut, with "…".
_AUDIT_VALUE_LENGTH = 254


def _names_of(children: Iterable[Student]) -> str:
    listed = ", ".join(sorted(f"{c.first_name} {c.last_name} ({c.class_name})" for c in children))
    if len(listed) > _AUDIT_VALUE_LENGTH:
        listed = listed[: _AUDIT_VALUE_LENGTH - 1] + "…"
    return listed or REMOVED


def change_children(*, user: User, children: Iterable[Student], actor: User) -> bool:
    """The account's children are now exactly `children`: recorded with before and after.

    Returns whether anything changed (nothing is recorded when nothing did).
    """
    _check_may_change(actor=actor, user=user)
    wanted = list(children)
    with transaction.atomic():
        before = list(user.children.all())
        if {c.pk for c in before} == {c.pk for c in wanted}:
            return False
        user.children.set(wanted)
        record(
            school=user.school,
            actor=actor,
            action=AuditEntry.Action.CHILDREN_CHANGED,
            target=user.get_full_name(),
            reference=_reference(user),
            before=_names_of(before),
            after=_names_of(wanted),
        )
    return True


def set_account_active(*, user: User, active: bool, actor: User) -> bool:
    """Deactivate an account (the person can no longer log in; nothing of it is deleted) or
    activate it again: recorded. Returns whether it changed.

    A school's administrators deactivate instead of deleting: the account, its children and
    every entry about it stay, so a mistake is undone by activating it again.
    """
    _check_may_change(actor=actor, user=user)
    if actor.pk == user.pk and not active:
        raise PermissionDenied  # nobody locks themselves out
    with transaction.atomic():
        if not User.objects.filter(pk=user.pk).exclude(is_active=active).update(is_active=active):
            return False
        user.is_active = active
        record(
            school=user.school,
            actor=actor,
            action=AuditEntry.Action.REACTIVATED if active else AuditEntry.Action.DEACTIVATED,
            target=user.get_full_name(),
            reference=_reference(user),
            before=_state_words(active=not active),
            after=_state_words(active=active),
        )
    return True


def _state_words(*, active: bool, student: bool = False) -> str:
    """An account's or a student's state in words, in the site's language, for the trail."""
    with translation.override(settings.LANGUAGE_CODE):
        if student:
            return str(_("studies at the school") if active else _("does not study at the school"))
        return str(_("active") if active else _("deactivated"))


def _record_students_activity(
    *, sender: type, school: School, students: list[Student], studying: bool, actor: User, **kwargs
) -> None:
    """schools.services.set_students_studying, recorded (schools imports no other app)."""
    for student in students:
        record(
            school=school,
            actor=actor,
            action=(
                AuditEntry.Action.STUDENT_REACTIVATED
                if studying
                else AuditEntry.Action.STUDENT_DEACTIVATED
            ),
            target=str(student),
            reference=f"student:{student.pk}",
            before=_state_words(active=not studying, student=True),
            after=_state_words(active=studying, student=True),
        )


students_activity_changed.connect(_record_students_activity, dispatch_uid="accounts.audit")
