"""State changes of applications."""

import contextlib
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from koolivarav.accounts.models import AuditEntry, User
from koolivarav.accounts.services import (
    account_of,
    anonymise_audit_entries,
    create_parent_account,
    email_taken,
    record,
    send_children_added,
    send_login_details,
)
from koolivarav.notifications.models import Email
from koolivarav.notifications.preparers import Prepared, SkipEmail, register
from koolivarav.notifications.services import queue_email
from koolivarav.schools.models import KnownGuardians, School, Student

from .models import HELD_BACK, Application, ChildDecision, Question


@dataclass(frozen=True)
class ApplicantData:
    """What a parent entered, already checked by the form (see forms.ApplicationForm)."""

    parent_id_code: str
    first_name: str
    last_name: str
    email: str
    phone: str
    child_id_codes: tuple[str, ...]
    # Set when the parent proved their identity (koolivarav.identity): the method and when
    # (ISO 8601); the ID code and the names above are then the provider's.
    identity_method: str = ""
    identity_verified_at: str = ""


class ChildrenNotFound(Exception):
    """A child's code no longer matches an active student of the school."""


def submit_application(
    *, school: School, data: ApplicantData, language: str, hold: bool = False
) -> Application:
    """Record a parent's application at the school.

    Nobody is logged in here, so a submission may never change what an earlier one said:
    anyone who knows a parent's ID code (it is not a secret) could otherwise put their own
    e-mail address on the parent's pending application and receive the login details.

    - The same parent with the same e-mail address and phone as a pending application:
      the new children are added to it (a double click or a second try creates nothing new).
    - Other contact data: an application of its own. The review shows it beside the others
      for the same ID code, marked as conflicting, and the earlier applicants are told at
      their own addresses (see `_tell_of_another_application`).

    With `hold`, a new application waits out of the review until its address is confirmed
    (`confirm_address`), and the administrators hear of it only then.

    Raises ChildrenNotFound when a code no longer matches an active student (the school
    changed its list between the two steps).
    """
    students = list(
        Student.objects.filter(school=school, is_active=True, id_code__in=data.child_id_codes)
    )
    if len(students) != len(set(data.child_id_codes)):
        raise ChildrenNotFound
    for attempt in range(2):
        try:
            with transaction.atomic():
                pending = list(
                    Application.objects.select_for_update()
                    .filter(
                        school=school,
                        parent_id_code=data.parent_id_code,
                        status=Application.Status.PENDING,
                    )
                    .order_by("created_at", "pk")
                )
                application = next((a for a in pending if _same_contact(a, data)), None)
                if application is None:
                    application = Application.objects.create(
                        school=school,
                        parent_id_code=data.parent_id_code,
                        first_name=data.first_name,
                        last_name=data.last_name,
                        email=data.email,
                        phone=data.phone,
                        language=language,
                        held_until_confirmed=hold,
                    )
                    if not hold:
                        _notify_administrators(application)
                    for earlier in pending:
                        _tell_of_another_application(earlier)
                application.children.add(*students)
                _record_identity(application, data)
                return application
        except IntegrityError:
            # The same data was submitted at the same moment by another request; the second
            # attempt finds that application and adds the children to it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _record_identity(application: Application, data: ApplicantData) -> None:
    """Keep how the parent proved their identity, and whether the school's records list them
    as the guardian of every child the application now names.

    A verified submission with the same contact data as a typed one makes that one verified
    (the same person: same ID code, e-mail and phone). A typed submission that adds children
    to a verified one keeps the verification, but the mark is worked out again over all the
    children, so a child the records do not link to the parent always takes it away.
    """
    if data.identity_method and data.identity_verified_at:
        application.identity_method = data.identity_method
        application.identity_verified_at = datetime.fromisoformat(data.identity_verified_at)
    listed = application.is_verified and all(
        application.parent_id_code in (child.guardian_id_codes or [])
        for child in application.children.all()
    )
    application.listed_as_guardian = listed
    Application.objects.filter(pk=application.pk).update(
        identity_method=application.identity_method,
        identity_verified_at=application.identity_verified_at,
        listed_as_guardian=listed,
    )


def _same_contact(application: Application, data: ApplicantData) -> bool:
    return application.email.casefold() == data.email.casefold() and application.phone == data.phone


REJECTED = "applications.rejected"
ANOTHER_APPLICATION = "applications.another_application"
ANOTHER_APPLICATION_NOTICE_INTERVAL = timedelta(days=1)


def _date_in(language: str, moment: datetime) -> str:
    with translation.override(language):
        return formats.date_format(timezone.localtime(moment), "DATE_FORMAT")


def _tell_of_another_application(application: Application) -> None:
    """Tell an applicant, at their own address, that someone applied again with their ID
    code but other contact data — at most once a day per application. The e-mail says
    nothing of the other application's data: whoever sent it may be a stranger."""
    now = timezone.now()
    noticed = Application.objects.filter(pk=application.pk).filter(
        Q(conflict_noticed_at__isnull=True)
        | Q(conflict_noticed_at__lt=now - ANOTHER_APPLICATION_NOTICE_INTERVAL)
    )
    if not noticed.update(conflict_noticed_at=now):
        return
    queue_email(
        school=application.school,
        to=application.email,
        kind=ANOTHER_APPLICATION,
        template="applications/email/another_application",
        context={
            "first_name": application.first_name,
            "submitted": _date_in(application.language, application.created_at),
        },
        language=application.language,
    )


# --- the receipt and the confirmed address ------------------------------------------------

RECEIPT = "applications.receipt"
# A second submission (Back and "Saada taotlus" again, or applying again) within this time
# sends no second receipt.
RECEIPT_INTERVAL = timedelta(minutes=10)
STATUS_LINK_SALT = "koolivarav.applications.status"


def receive_application(*, school: School, data: ApplicantData, language: str) -> Application:
    """The public form's "Saada taotlus": record the application (see `submit_application`),
    held back from the review until the address is confirmed when the school says so, and
    send the receipt with the link that confirms the address — in one transaction, so that
    a failure half-way leaves neither."""
    with transaction.atomic():
        application = submit_application(
            school=school, data=data, language=language, hold=school.hold_unconfirmed_applications
        )
        send_receipt(application=application)
    existing = account_of(school=school, id_code=application.parent_id_code)
    if (
        application.listed_as_guardian
        and school.known_guardians == KnownGuardians.APPROVE
        and application.status == Application.Status.PENDING
        # A deactivated account is the school's to look at: never revived by the records.
        and (existing is None or existing.is_active)
    ):
        # The school lets its records decide: a verified parent listed as the guardian of
        # every child named. Anything short of that waits for a person (see _record_identity).
        # When it cannot (the e-mail is another account's), it stays in the queue, marked.
        with contextlib.suppress(EmailBelongsToAnotherAccount, AlreadyDecided):
            application = approve_application(
                application_id=application.pk, decided_by=None, by_records=True
            )
    return application


def send_receipt(*, application: Application) -> bool:
    """Queue the receipt to the application's own address, unless one went within
    RECEIPT_INTERVAL; returns whether it was queued.

    The receipt names the parent and the number of children, never a child: whoever typed
    the children's codes may not be their parent, and the address may be mistyped.
    """
    now = timezone.now()
    with transaction.atomic():
        # A conditional UPDATE: of two submissions at the same moment, one sends it.
        due = Application.objects.filter(pk=application.pk).filter(
            Q(receipt_sent_at__isnull=True) | Q(receipt_sent_at__lt=now - RECEIPT_INTERVAL)
        )
        if not due.update(receipt_sent_at=now):
            return False
        application.receipt_sent_at = now
        queue_email(
            school=application.school,
            to=application.email,
            kind=RECEIPT,
            template="applications/email/receipt",
            # The link is signed when the e-mail is sent (see `_prepare_receipt`): the outbox
            # keeps no working link, and the link's time runs from the sending.
            context={"application_id": application.pk},
            language=application.language,
        )
    return True


def status_link_days() -> int:
    """How long the receipt's link works: as long as an unconfirmed application is kept."""
    return int(settings.KOOLIVARAV["UNCONFIRMED_APPLICATION_DAYS"])


def status_token(application: Application) -> str:
    """The signed, time-stamped token of the status link: the application's number only,
    never an ID code (see selectors.application_for_status_token)."""
    return signing.dumps(application.pk, salt=STATUS_LINK_SALT)


def status_url(application: Application) -> str:
    path = reverse("applications:status")
    # In the query string, not the path: neither the request lines nor nginx's access log
    # keep a query string.
    return f"{application.school.portal_url.rstrip('/')}{path}?t={status_token(application)}"


def _prepare_receipt(email: Email) -> Prepared:
    application = (
        Application.objects.select_related("school")
        .filter(pk=email.context.get("application_id"))
        .first()
    )
    if application is None:
        raise SkipEmail("The application no longer exists.")
    return Prepared(
        context={
            "first_name": application.first_name,
            "last_name": application.last_name,
            "children_count": application.children.count(),
            "status_url": status_url(application),
            "held": application.is_held_back,
            "link_days": status_link_days(),
        },
        # The kept copy masks what is made at sending (the link), not the applicant's name.
        shown=frozenset({"first_name", "last_name"}),
    )


register(RECEIPT, _prepare_receipt)


def confirm_address(*, application_id: int) -> bool:
    """The receipt's link was followed and its button pressed: the address is confirmed.

    A held-back application enters the review now, and the administrators are told of it
    now rather than at submission. Returns whether this call confirmed it (False when it was
    confirmed already)."""
    with transaction.atomic():
        confirmed = Application.objects.filter(
            pk=application_id, email_confirmed_at__isnull=True
        ).update(email_confirmed_at=timezone.now())
        if not confirmed:
            return False
        application = Application.objects.select_related("school").get(pk=application_id)
        if application.held_until_confirmed and application.status == Application.Status.PENDING:
            _notify_administrators(application)
        return True


class AddressNotConfirmed(Exception):
    """The school holds this application back until its address is confirmed."""


class EmailBelongsToAnotherAccount(Exception):
    """The application's e-mail is another account's: the school must sort it out first."""


class AlreadyDecided(Exception):
    """Someone else decided this application first (or it was a double click)."""


def _decide(
    *, application_id: int, status: str, decided_by: User | None, **fields: object
) -> Application:
    """Move a pending application to a decision; exactly one of concurrent callers wins.

    Runs inside the caller's transaction. The conditional UPDATE is the lock: a second
    administrator (or a double click) updates no row and gets AlreadyDecided.
    """
    updated = Application.objects.filter(
        pk=application_id, status=Application.Status.PENDING
    ).update(status=status, decided_by=decided_by, decided_at=timezone.now(), **fields)
    if not updated:
        raise AlreadyDecided
    return Application.objects.select_related("school").get(pk=application_id)


@dataclass(frozen=True)
class ChildrenDecision:
    """A reviewer's decision child by child: the children to add, and those not to add with
    the reason the parent is told. Between them they name every child the reviewer saw."""

    added: Collection[int]  # students' ids
    declined: Mapping[int, str] = field(default_factory=dict)  # student id -> reason


class ChildrenChanged(Exception):
    """The application's children are not the ones the decision names: the parent added a
    child after the page was opened. Nothing was decided; the reviewer looks again."""


class NoChildAdded(Exception):
    """A decision that adds no child is a rejection: use reject_application."""


PARTLY_APPROVED = "applications.partly_approved"


def _child(student: Student) -> str:
    return f"{student.first_name} {student.last_name} ({student.class_name})"


def approve_application(
    *,
    application_id: int,
    decided_by: User | None,
    by_records: bool = False,
    children: ChildrenDecision | None = None,
) -> Application:
    """Approve: create the parent's account (or reuse theirs), link the children, and queue
    the e-mail — all in one transaction, so a failure leaves nothing half-done and sends
    nothing. Raises AddressNotConfirmed for an application the school holds back.

    `children`: add only some of the children (the default adds them all). The account
    gets the added ones; the parent's e-mail names them and, for each other child, the
    reason and the school's contact. Raises ChildrenChanged when the application's children
    are not the ones named, NoChildAdded when none is added.

    `by_records`: the school's records approved it (`receive_application`), nobody in
    person. The parent proved their identity and logs in through the provider, so no
    temporary password is sent (and the address need not be confirmed for it)."""
    if children is not None and not children.added:
        raise NoChildAdded
    with transaction.atomic():
        # Confirming only ever ends a hold, so this check cannot go stale before _decide.
        if not by_records and Application.objects.filter(HELD_BACK, pk=application_id).exists():
            # Login details to an address nobody confirmed could go to a stranger.
            raise AddressNotConfirmed
        application = _decide(
            application_id=application_id, status=Application.Status.APPROVED, decided_by=decided_by
        )
        school = application.school
        # Read after _decide's UPDATE holds the row: a submission adding a child to this
        # application (submit_application locks the same row) is either seen here or waits.
        everyone = list(application.children.all())
        added, declined = everyone, []
        if children is not None:
            named = {*children.added, *children.declined}
            if named != {c.pk for c in everyone} or set(children.added) & set(children.declined):
                raise ChildrenChanged
            added = [c for c in everyone if c.pk in children.added]
            declined = [(c, children.declined[c.pk]) for c in everyone if c.pk in children.declined]
        user = account_of(school=school, id_code=application.parent_id_code)
        new_account = user is None
        if user is None:
            if email_taken(school=school, email=application.email):
                # Linking by e-mail alone could hand children to a stranger's account.
                raise EmailBelongsToAnotherAccount

            user = create_parent_account(
                school=school,
                id_code=application.parent_id_code,
                first_name=application.first_name,
                last_name=application.last_name,
                email=application.email,
                phone=application.phone,
                language=application.language,
                children=added,
                must_change_password=not by_records,
            )
            if not by_records:
                send_login_details(user=user)
        else:
            linked = set(user.children.values_list("pk", flat=True))
            new_children = [c for c in added if c.pk not in linked]
            user.children.add(*added)
            if not declined:
                send_children_added(user=user, children=new_children or added)
        if declined:
            # One e-mail that says both: who was added and why the others were not.
            queue_email(
                school=school,
                to=application.email,
                kind=PARTLY_APPROVED,
                template="applications/email/partly_approved",
                context={
                    "first_name": application.first_name,
                    "added": [_child(c) for c in added],
                    "declined": [{"child": _child(c), "reason": r} for c, r in declined],
                    "new_account": new_account and not by_records,
                },
                language=application.language,
            )
        Application.objects.filter(pk=application.pk).update(account=user)
        ChildDecision.objects.bulk_create(
            [ChildDecision(application=application, student=c, approved=True) for c in added]
            + [
                ChildDecision(application=application, student=c, approved=False, reason=r)
                for c, r in declined
            ]
        )
        details = ", ".join(_child(c) for c in added)
        if by_records:
            with translation.override(settings.LANGUAGE_CODE):
                details = _(
                    "By the school's records (identity verified with %(method)s, listed as the "
                    "guardian of every child): %(children)s"
                ) % {"method": application.get_identity_method_display(), "children": details}
        record(
            school=school,
            actor=decided_by,
            action=AuditEntry.Action.APPROVED,
            target=str(application),
            details=details,
            reference=application.reference,
        )
        for child, reason in declined:
            # Each child left out has an entry of its own, with the reason the parent reads.
            with translation.override(settings.LANGUAGE_CODE):
                details = _("Not added: %(child)s. Reason: %(reason)s") % {
                    "child": _child(child),
                    "reason": reason,
                }
            record(
                school=school,
                actor=decided_by,
                action=AuditEntry.Action.REJECTED,
                target=str(application),
                details=details,
                reference=application.reference,
            )
        application.account = user
        return application


def reject_application(*, application_id: int, decided_by: User, reason: str) -> Application:
    """Reject with a reason; the applicant is told, in the language they applied in."""
    with transaction.atomic():
        application = _decide(
            application_id=application_id,
            status=Application.Status.REJECTED,
            decided_by=decided_by,
            rejection_reason=reason,
        )
        ChildDecision.objects.bulk_create(
            ChildDecision(application=application, student=c, approved=False, reason=reason)
            for c in application.children.all()
        )
        queue_email(
            school=application.school,
            to=application.email,
            kind=REJECTED,
            template="applications/email/rejected",
            context={"first_name": application.first_name, "reason": reason},
            language=application.language,
        )
        record(
            school=application.school,
            actor=decided_by,
            action=AuditEntry.Action.REJECTED,
            target=str(application),
            details=reason,
            reference=application.reference,
        )
        return application


# --- a question to the parent ------------------------------------------------------------------

QUESTION = "applications.question"
ANSWERED = "applications.answered"
# The longest question and answer: a few paragraphs, not a document.
MAX_QUESTION_LENGTH = 2000
MAX_ANSWER_LENGTH = 2000


class QuestionAlreadyOpen(Exception):
    """The parent has not answered the last question yet."""


class NoOpenQuestion(Exception):
    """Nothing to answer: no question is waiting (answered already, or decided meanwhile)."""


def has_control_characters(text: str) -> bool:
    """Control characters other than line breaks and tabs: they garble e-mails and pages."""
    return any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text)


def ask_parent(*, application_id: int, asked_by: User, question: str) -> Question:
    """Ask the applicant a question instead of deciding: the application waits for the
    answer (it stays pending, so it may still be decided), and the question goes by e-mail
    to the applicant's address with the link to the application's status page, where they
    answer it. Raises AlreadyDecided, QuestionAlreadyOpen, or AddressNotConfirmed for an
    application the school holds back (its address may be a stranger's)."""
    text = question.strip()
    if not text or len(text) > MAX_QUESTION_LENGTH or has_control_characters(text):
        raise ValueError("A question of 1 to MAX_QUESTION_LENGTH characters, no control ones.")
    with transaction.atomic():
        # A conditional UPDATE, as in _decide: of two reviewers asking at once, one asks.
        asked = (
            Application.objects.filter(pk=application_id, status=Application.Status.PENDING)
            .exclude(question_state=Application.QuestionState.ASKED)
            .exclude(HELD_BACK)
            .update(question_state=Application.QuestionState.ASKED, updated_at=timezone.now())
        )
        application = Application.objects.select_related("school").get(pk=application_id)
        if not asked:
            if application.status != Application.Status.PENDING:
                raise AlreadyDecided
            if application.is_held_back:
                raise AddressNotConfirmed
            raise QuestionAlreadyOpen
        asked_question = Question.objects.create(
            application=application, text=text, asked_by=asked_by
        )
        # Who asked and when; the question itself stays on the application (it may name people).
        record(
            school=application.school,
            actor=asked_by,
            action=AuditEntry.Action.QUESTION_ASKED,
            target=str(application),
            reference=application.reference,
        )
        queue_email(
            school=application.school,
            to=application.email,
            kind=QUESTION,
            template="applications/email/question",
            # The status link is signed when the e-mail is sent (see `_prepare_question`).
            context={
                "application_id": application.pk,
                "first_name": application.first_name,
                "question": text,
            },
            language=application.language,
        )
        return asked_question


def _prepare_question(email: Email) -> Prepared:
    application = (
        Application.objects.select_related("school")
        .filter(pk=email.context.get("application_id"))
        .first()
    )
    if application is None or not application.is_waiting_for_parent:
        # Decided (or answered by phone and decided) before the worker got to it.
        raise SkipEmail("The question is no longer open.")
    return Prepared(
        context={"status_url": status_url(application), "link_days": status_link_days()}
    )


register(QUESTION, _prepare_question)


def answer_question(*, application_id: int, answer: str) -> Question:
    """The parent's answer, from the status page: the application returns to the review,
    marked answered. Exactly one answer per question (a second one, or one after the
    decision, raises NoOpenQuestion)."""
    text = answer.strip()
    if not text or len(text) > MAX_ANSWER_LENGTH or has_control_characters(text):
        raise ValueError("An answer of 1 to MAX_ANSWER_LENGTH characters, no control ones.")
    with transaction.atomic():
        now = timezone.now()
        answered = Application.objects.filter(
            pk=application_id,
            status=Application.Status.PENDING,
            question_state=Application.QuestionState.ASKED,
        ).update(question_state=Application.QuestionState.ANSWERED, updated_at=now)
        if not answered:
            raise NoOpenQuestion
        question = (
            Question.objects.filter(application=application_id, answered_at__isnull=True)
            .order_by("-asked_at", "-pk")
            .first()
        )
        if question is None:  # the state said asked: a question is there
            raise NoOpenQuestion
        question.answer = text
        question.answered_at = now
        question.save(update_fields=["answer", "answered_at"])
        application = Application.objects.select_related("school").get(pk=application_id)
        # Nobody is logged in: the status link was the applicant's. The answer stays on the
        # question, as the question does.
        record(
            school=application.school,
            actor=None,
            action=AuditEntry.Action.QUESTION_ANSWERED,
            target=str(application),
            reference=application.reference,
        )
        _tell_who_asked(application, question)
        return question


def _tell_who_asked(application: Application, question: Question) -> None:
    """An e-mail to the administrator who asked, if they still administer the school and
    hear of each application (the daily digest lists the answered ones with the waiting;
    "none" is none). No personal data in it: the link opens the application in the admin."""
    asker = (
        User.objects.filter(
            pk=question.asked_by_id,
            school=application.school_id,
            role=User.Role.SCHOOL_ADMIN,
            is_staff=True,
            is_active=True,
            application_notices=User.ApplicationNotices.EACH,
        ).first()
        if question.asked_by_id
        else None
    )
    if asker is None:
        return
    school = application.school
    path = reverse("admin:applications_application_change", args=[application.pk])
    queue_email(
        school=school,
        to=asker.email,
        kind=ANSWERED,
        template="applications/email/answered",
        context={"application_url": school.portal_url.rstrip("/") + path},
        language=asker.language,
    )


def _notify_administrators(application: Application) -> None:
    school = application.school
    if not school.notify_admins_of_new_applications:
        return
    # Each administrator chooses: this notice, a daily digest instead (operations.digests),
    # or none.
    admins = User.objects.filter(
        school=school,
        role=User.Role.SCHOOL_ADMIN,
        is_staff=True,
        is_active=True,
        application_notices=User.ApplicationNotices.EACH,
    )
    for admin in admins:
        # No personal data in the notice: the administrator reads it in the review queue.
        queue_email(
            school=school,
            to=admin.email,
            kind="applications.new_application",
            template="applications/email/new_application",
            context={
                "review_url": school.portal_url.rstrip("/") + "/admin/applications/application/"
            },
            language=admin.language,
        )


def purge_rejected_applications(*, older_than_days: int | None = None) -> int:
    """Delete rejected applications decided more than the retention period ago.

    What stays is an anonymous stub: the audit entry still says who rejected an application
    and when, no longer whose or why. Returns how many applications were deleted.
    """
    days = older_than_days
    if days is None:
        days = settings.KOOLIVARAV["REJECTED_APPLICATION_RETENTION_DAYS"]
    cutoff = timezone.now() - timedelta(days=days)
    with transaction.atomic():
        expired = Application.objects.filter(
            status=Application.Status.REJECTED, decided_at__lt=cutoff
        )
        references = [application.reference for application in expired.only("pk")]
        anonymise_audit_entries(references=references)
        deleted = expired.delete()[1].get(Application._meta.label, 0)
    return deleted


def purge_unconfirmed_applications(*, older_than_days: int | None = None) -> int:
    """Delete held-back applications whose address nobody confirmed within
    UNCONFIRMED_APPLICATION_DAYS of their last receipt (the link has stopped working by
    then). Audit entries about them, if any, stay as anonymous stubs. Returns how many."""
    days = status_link_days() if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    with transaction.atomic():
        expired = Application.objects.filter(HELD_BACK).filter(
            Q(receipt_sent_at__lt=cutoff) | Q(receipt_sent_at__isnull=True, created_at__lt=cutoff)
        )
        references = [application.reference for application in expired.only("pk")]
        anonymise_audit_entries(references=references)
        deleted = expired.delete()[1].get(Application._meta.label, 0)
    return deleted
