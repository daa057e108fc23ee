"""The secretary's review (issue 14 items 1, 2 and 4's admin part): the queue says what the
records say, the bulk approval of the matching ones, one application after another, the
per-child form, Reject and Ask with a Cancel, a failed e-mail flagged."""

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from koolivarav.accounts.models import User
from koolivarav.applications.models import Application, ChildDecision, Question
from koolivarav.applications.selectors import Records, review_queue
from koolivarav.applications.services import (
    ApplicantData,
    answer_question,
    approve_application,
    ask_parent,
    submit_application,
)
from koolivarav.notifications.models import Email
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory

CHANGELIST = reverse("admin:applications_application_changelist")


def _et_text(text: str) -> str:
    with translation.override("et"):
        return translation.gettext(text)


def _et(text: str) -> str:
    """The Estonian text as the page shows it (escaped)."""
    return escape(_et_text(text))


def _code(n: int) -> str:
    return make_id_code(birth=date(1980, 1 + n % 12, 1 + n % 28), female=True, serial=n)


def _apply(school, n=0, *, listed=(True,), last_name=None, created_ago=None, **data):
    """An application naming one child per item of `listed`: True where the school's
    records list the applicant as that child's guardian."""
    parent = _code(n)
    children = [
        StudentFactory(school=school, guardian_id_codes=[parent] if is_listed else [_code(99)])
        for is_listed in listed
    ]
    application = submit_application(
        school=school,
        data=ApplicantData(
            parent_id_code=parent,
            first_name="Mari",
            last_name=last_name or f"Vanem{n}",
            email=data.pop("email", f"vanem{n}@example.ee"),
            phone="+37255512345",
            child_id_codes=tuple(c.id_code for c in children),
            **data,
        ),
        language="et",
    )
    if created_ago is not None:
        Application.objects.filter(pk=application.pk).update(
            created_at=timezone.now() - created_ago
        )
        application.refresh_from_db()
    return application


def _names(response) -> list[str]:
    return [a.last_name for a in response.context["cl"].result_list]


def _change(application) -> str:
    return reverse("admin:applications_application_change", args=[application.pk])


# --- what the records say --------------------------------------------------------------------


def test_records_say_all_some_or_none_for_each_application(school):
    every = _apply(school, 1, listed=(True, True))
    part = _apply(school, 2, listed=(True, False))
    neither = _apply(school, 3, listed=(False, False))
    records = dict(review_queue(Application.objects.all()).values_list("pk", "records"))
    assert records == {every.pk: Records.ALL, part.pk: Records.SOME, neither.pk: Records.NONE}


def test_records_follow_the_schools_list_when_it_changes(school):
    """Computed when read, never stored: a new import of the list shows at once."""
    application = _apply(school, 1, listed=(False,))
    child = application.children.get()
    child.guardian_id_codes = [_code(99), application.parent_id_code]
    child.save()
    assert review_queue(Application.objects.all()).get().records == Records.ALL


def test_the_queue_shows_records_as_words_with_a_sign(admin_client_of_school, school):
    _apply(school, 1, listed=(True, False))
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    assert 'class="records records-some"' in page
    assert f"◐</span> {_et('some children')}" in page


@pytest.mark.parametrize(
    ("value", "expected"), [("all", ["Vanem1"]), ("some", ["Vanem2"]), ("none", ["Vanem3"])]
)
def test_the_records_filter(admin_client_of_school, school, value, expected):
    _apply(school, 1, listed=(True, True))
    _apply(school, 2, listed=(False, True))
    _apply(school, 3, listed=(False,))
    assert _names(admin_client_of_school.get(CHANGELIST, {"records": value})) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("typed", ["Kirjutatud"]),
        ("verified", ["Tuvastatud"]),
        ("verified-smartid", ["Tuvastatud"]),
        ("verified-idcard", []),
    ],
)
def test_the_identity_filter(admin_client_of_school, school, value, expected):
    _apply(school, 1, last_name="Kirjutatud")
    _apply(
        school,
        2,
        last_name="Tuvastatud",
        identity_method="smartid",
        identity_verified_at=timezone.now().isoformat(),
    )
    assert _names(admin_client_of_school.get(CHANGELIST, {"identity": value})) == expected


def test_the_question_filter_and_the_state_column(admin_client_of_school, school, school_admin):
    waiting = _apply(school, 1, last_name="Ootab")
    answered = _apply(school, 2, last_name="Vastas")
    _apply(school, 3, last_name="Uus")
    for application in (waiting, answered):
        ask_parent(application_id=application.pk, asked_by=school_admin, question="Kas?")
    answer_question(application_id=answered.pk, answer="Jah.")
    assert _names(admin_client_of_school.get(CHANGELIST, {"question": "asked"})) == ["Ootab"]
    assert _names(admin_client_of_school.get(CHANGELIST, {"question": "answered"})) == ["Vastas"]
    assert sorted(_names(admin_client_of_school.get(CHANGELIST, {"question": "to_decide"}))) == [
        "Uus",
        "Vastas",
    ]
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    assert _et("waiting for the parent's answer") in page
    assert _et("answered: to decide") in page


def test_a_failed_email_is_flagged_on_its_application(admin_client_of_school, school):
    application = _apply(school, 1)
    Email.objects.create(
        school=school,
        kind="applications.receipt",
        template="applications/email/receipt",
        to_address=application.email,
        message_id="<failed@example.ee>",
        status=Email.Status.FAILED,
        last_error="550 5.1.1 no such user",
    )
    _apply(school, 2)
    page = admin_client_of_school.get(CHANGELIST).content.decode()
    assert page.count(_et("an e-mail to the parent was not delivered")) == 1
    review = admin_client_of_school.get(_change(application)).content.decode()
    assert "550 5.1.1 no such user" in review


# --- the bulk approval of the matching ones ---------------------------------------------------------


def test_approve_matching_approves_only_the_fully_matching_and_says_how_many_were_left(
    admin_client_of_school, school
):
    every = _apply(school, 1, listed=(True, True))
    part = _apply(school, 2, listed=(True, False))
    neither = _apply(school, 3, listed=(False,))
    also = _apply(school, 4, listed=(True,))
    response = admin_client_of_school.post(
        CHANGELIST,
        {
            "action": "approve_matching",
            "_selected_action": [a.pk for a in (every, part, neither, also)],
        },
        follow=True,
    )
    approved = set(
        Application.objects.filter(status=Application.Status.APPROVED).values_list("pk", flat=True)
    )
    assert approved == {every.pk, also.pk}
    texts = [str(m) for m in response.context["messages"]]
    with translation.override("et"):
        assert (
            translation.ngettext(
                "%(count)d selected application was left for a closer look.",
                "%(count)d selected applications were left for a closer look.",
                2,
            )
            % {"count": 2}
            in texts
        )


def test_approve_matching_leaves_a_parent_with_two_applications(admin_client_of_school, school):
    first = _apply(school, 1, listed=(True,))
    other = submit_application(
        school=school,
        data=ApplicantData(
            parent_id_code=first.parent_id_code,
            first_name="Mari",
            last_name="Võõras",
            email="voor@example.ee",
            phone="+37255599999",
            child_id_codes=tuple(c.id_code for c in first.children.all()),
        ),
        language="et",
    )
    admin_client_of_school.post(
        CHANGELIST, {"action": "approve_matching", "_selected_action": [first.pk, other.pk]}
    )
    assert not Application.objects.filter(status=Application.Status.APPROVED).exists()


# --- one application after another ---------------------------------------------------------------


def test_the_decision_comes_before_the_details(admin_client_of_school, school):
    application = _apply(school, 1, listed=(True, False))
    page = admin_client_of_school.get(_change(application)).content.decode()
    decision = page.index('id="decision-heading"')
    assert decision < page.index(_et("Approve")) < page.index('id="details-heading"')
    assert page.index(_et("Reject…")) < page.index('id="details-heading"')
    assert page.index(_et("Ask the parent…")) < page.index('id="details-heading"')
    # No Save, no Delete, no Close: nothing here is edited by hand.
    assert 'name="_save"' not in page
    assert "closelink" not in page


def test_after_an_approval_the_next_application_opens(admin_client_of_school, school):
    newest = _apply(school, 1, created_ago=timedelta(minutes=1))
    middle = _apply(school, 2, created_ago=timedelta(minutes=2))
    oldest = _apply(school, 3, created_ago=timedelta(minutes=3))
    response = admin_client_of_school.post(
        reverse("admin:applications_application_approve", args=[middle.pk])
    )
    assert response["Location"] == _change(oldest)
    # After the last one, back round to the top of the queue.
    response = admin_client_of_school.post(
        reverse("admin:applications_application_approve", args=[oldest.pk])
    )
    assert response["Location"] == _change(newest)
    response = admin_client_of_school.post(
        reverse("admin:applications_application_approve", args=[newest.pk])
    )
    assert response["Location"] == CHANGELIST


def test_the_next_one_skips_those_waiting_for_the_parent(
    admin_client_of_school, school, school_admin
):
    first = _apply(school, 1, created_ago=timedelta(minutes=1))
    waiting = _apply(school, 2, created_ago=timedelta(minutes=2))
    last = _apply(school, 3, created_ago=timedelta(minutes=3))
    ask_parent(application_id=waiting.pk, asked_by=school_admin, question="Kas?")
    response = admin_client_of_school.post(
        reverse("admin:applications_application_approve", args=[first.pk])
    )
    assert response["Location"] == _change(last)


def test_a_decided_application_shows_no_text_from_before_the_decision(
    admin_client_of_school, school, school_admin
):
    application = _apply(school, 1)
    approve_application(application_id=application.pk, decided_by=school_admin)
    page = admin_client_of_school.get(_change(application)).content.decode()
    for before in (
        "The parent already has an account here; approving links the children to it:",
        "The parent has no account here yet; approving creates one.",
        "Approve",
        "Reject…",
    ):
        assert f">{_et(before)}<" not in page
        assert f'value="{_et(before)}"' not in page
    assert _et("added to the account") in page
    assert _et("Back to the list") in page


def test_per_child_decisions_from_the_review_page(admin_client_of_school, school):
    application = _apply(school, 1, listed=(True, False))
    kept, left = application.children.order_by("pk")
    page = admin_client_of_school.get(_change(application)).content.decode()
    assert f'name="child-{kept.pk}"' in page
    assert f'name="reason-{left.pk}"' in page
    response = admin_client_of_school.post(
        reverse("admin:applications_application_approve", args=[application.pk]),
        {
            f"child-{kept.pk}": "add",
            f"child-{left.pk}": "decline",
            f"reason-{left.pk}": "not_guardian",
            f"details-{left.pk}": "Helista palun kantseleisse.",
            f"reason-{kept.pk}": "",
            f"details-{kept.pk}": "",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(id_code=application.parent_id_code)
    assert list(user.children.all()) == [kept]
    declined = ChildDecision.objects.get(approved=False)
    assert declined.student == left
    assert declined.reason == (
        _et_text("The school's records do not show you as this child's guardian.")
        + " Helista palun kantseleisse."
    )


def test_a_declined_child_needs_a_reason(admin_client_of_school, school):
    application = _apply(school, 1, listed=(True, False))
    kept, left = application.children.order_by("pk")
    response = admin_client_of_school.post(
        reverse("admin:applications_application_approve", args=[application.pk]),
        {f"child-{kept.pk}": "add", f"child-{left.pk}": "decline", f"reason-{left.pk}": ""},
    )
    assert response.status_code == 200
    with translation.override("et"):
        error = translation.gettext("Say why %(child)s is not added.") % {"child": left.full_name}
    page = response.content.decode()
    assert escape(error) in page
    # The reviewer's choice is kept on the page shown again.
    assert re.search(rf'name="child-{left.pk}" value="decline"[^>]* checked', page)
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING


def test_declining_every_child_asks_for_reject_instead(admin_client_of_school, school):
    application = _apply(school, 1, listed=(False,))
    [child] = application.children.all()
    response = admin_client_of_school.post(
        reverse("admin:applications_application_approve", args=[application.pk]),
        {f"child-{child.pk}": "decline", f"reason-{child.pk}": "not_guardian"},
    )
    assert response.status_code == 200
    assert _et(
        "No child is marked to be added. To turn the whole application down, use Reject."
    ) in (response.content.decode())
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING


def test_a_child_added_after_the_page_was_opened_is_not_approved_unseen(
    admin_client_of_school, school
):
    application = _apply(school, 1, listed=(True,))
    [seen] = application.children.all()
    _apply(school, 1, listed=(True,))  # the same parent and contact data: a second child
    response = admin_client_of_school.post(
        reverse("admin:applications_application_approve", args=[application.pk]),
        {f"child-{seen.pk}": "add"},
    )
    assert response.status_code == 200  # the page again, with the new child to decide on
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING


# --- Reject and Ask, each with a Cancel ---------------------------------------------------------------


def test_rejecting_one_application_from_its_page(admin_client_of_school, school):
    application = _apply(school, 1, created_ago=timedelta(minutes=1))
    following = _apply(school, 2, created_ago=timedelta(minutes=2))
    url = reverse("admin:applications_application_reject", args=[application.pk])
    form = admin_client_of_school.get(url).content.decode()
    assert f'href="{_change(application)}"' in form  # Cancel
    assert _et("Cancel") in form
    response = admin_client_of_school.post(url, {"reason": "not_confirmed"})
    assert response["Location"] == _change(following)
    application.refresh_from_db()
    assert application.status == Application.Status.REJECTED
    assert Email.objects.filter(kind="applications.rejected").exists()


def test_asking_from_the_review_page_then_reading_the_answer(
    admin_client_of_school, school, school_admin
):
    application = _apply(school, 1, created_ago=timedelta(minutes=1))
    following = _apply(school, 2, created_ago=timedelta(minutes=2))
    url = reverse("admin:applications_application_ask", args=[application.pk])
    form = admin_client_of_school.get(url).content.decode()
    assert f'href="{_change(application)}"' in form
    missing = admin_client_of_school.post(url, {"question": "other", "details": ""})
    assert missing.status_code == 200
    assert not Question.objects.exists()
    response = admin_client_of_school.post(url, {"question": "custody", "details": "Aitäh!"})
    assert response["Location"] == _change(following)
    question = Question.objects.get()
    assert question.text == (
        _et_text("Please send a copy of the custody decision to the school's office.") + " Aitäh!"
    )
    application.refresh_from_db()
    assert application.question_state == Application.QuestionState.ASKED
    page = admin_client_of_school.get(_change(application)).content.decode()
    assert _et("Ask the parent…") not in page  # one question at a time
    answer_question(application_id=application.pk, answer="Saatsin <b>koopia</b> täna.")
    page = admin_client_of_school.get(_change(application)).content.decode()
    assert "Saatsin &lt;b&gt;koopia&lt;/b&gt; täna." in page


def test_another_schools_application_cannot_be_asked_or_rejected(
    admin_client_of_school, other_school
):
    theirs = _apply(other_school, 20)
    for name in ("ask", "reject"):
        url = reverse(f"admin:applications_application_{name}", args=[theirs.pk])
        assert admin_client_of_school.post(
            url, {"question": "call", "reason": "x"}
        ).status_code in (
            302,
            404,
        )
    theirs.refresh_from_db()
    assert theirs.status == Application.Status.PENDING
    assert not Question.objects.exists()
