"""Step 1 cannot be used to find out which children attend the school (issue 16, item 4).

A parent is told which of their children's codes is not on the list; a stranger who tries
code after code is told that for a few distinct codes a day per client address and per
e-mail address, and after that only that some code is not on the list.
"""

import time
from datetime import date

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from koolivarav.applications.views import STEP1_KEY
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory
from koolivarav.tests.figures import FIGURES

from .test_views import PARENT, _errors, _step1

START = reverse("applications:start")
DAY = 24 * 60 * 60
GENERIC = ["codes_not_on_the_list"]  # the text: test_the_general_message_is_in_english


def _unknown(n: int) -> str:
    """A valid ID code that is no student's (the factories' students are born in 2012)."""
    return make_id_code(birth=date(2014, 1 + n % 12, 1 + n % 28), female=n % 2 == 0, serial=n)


def _invalid(n: int) -> str:
    """An ID code with a wrong check digit."""
    code = _unknown(n)
    return code[:-1] + str((int(code[-1]) + 1) % 10)


@pytest.fixture
def child(school):
    return StudentFactory(school=school)


def _client(school, address="203.0.113.7") -> Client:
    return Client(HTTP_HOST=school.hosts.first().hostname, REMOTE_ADDR=address)


def _try(client, *codes, email="mari@example.ee"):
    return client.post(START, _step1([], child_id_codes=" ".join(codes), email=email))


def _codes(response) -> list[str]:
    return [error.code for error in response.context["form"].errors.as_data()["child_id_codes"]]


def _named(response, code) -> bool:
    return any(code in error for error in _errors(response, "child_id_codes"))


# --- how many children one application may name -----------------------------------------------


def test_one_application_names_at_most_six_children(school):
    codes = [StudentFactory(school=school).id_code for _ in range(7)]
    client = _client(school)
    response = _try(client, *codes)
    assert _errors(response, "child_id_codes") == ["Ühes taotluses saab olla kõige rohkem 6 last."]
    assert _try(client, *codes[:6]).status_code == 302


# --- distinct unknown codes per client address and per e-mail ---------------------------------


def test_a_parent_is_told_which_code_is_wrong(school, child):
    response = _try(_client(school), child.id_code, _unknown(1))
    assert _named(response, _unknown(1))
    assert not _named(response, child.id_code)


def test_after_five_unknown_codes_from_one_address_no_code_is_named(school):
    client = _client(school)
    for n in range(5):
        response = _try(client, _unknown(n), email=f"parent{n}@example.ee")
        assert _named(response, _unknown(n)), n
    response = _try(client, _unknown(5), email="parent5@example.ee")
    assert _codes(response) == GENERIC
    assert not _named(response, _unknown(5))


def test_after_five_unknown_codes_with_one_email_no_code_is_named(school):
    for n in range(5):
        response = _try(_client(school, f"203.0.113.{n}"), _unknown(n), email="Mari@Example.ee")
        assert _named(response, _unknown(n)), n
    response = _try(_client(school, "203.0.113.99"), _unknown(5), email="mari@example.EE")
    assert _codes(response) == GENERIC


def test_the_same_wrong_code_typed_again_is_counted_once(school):
    client = _client(school)
    for _ in range(10):
        assert _named(_try(client, _unknown(1)), _unknown(1))
    for n in range(2, 6):
        assert _named(_try(client, _unknown(n)), _unknown(n))
    # Five distinct codes so far: the first one is still named, a sixth is not.
    assert _named(_try(client, _unknown(1)), _unknown(1))
    assert _codes(_try(client, _unknown(6))) == GENERIC


def test_codes_with_a_wrong_check_digit_are_not_counted(school):
    client = _client(school)
    for n in range(20):
        response = _try(client, _invalid(n))
        assert _named(response, _invalid(n))
    assert _named(_try(client, _unknown(1)), _unknown(1))


def test_once_over_the_limit_no_code_of_the_request_is_named(school, child):
    client = _client(school)
    for n in range(4):
        _try(client, _unknown(n))
    # One code within the limit and one over it: naming the first would tell that the other
    # unnamed one is not a student either.
    response = _try(client, _unknown(10), _unknown(11), child.id_code)
    assert _codes(response) == GENERIC


def test_the_right_codes_still_go_through_after_the_limit(school, child):
    client = _client(school)
    for n in range(6):
        _try(client, _unknown(n))
    response = _try(client, child.id_code)
    assert response.status_code == 302


def test_the_limit_is_per_day(school):
    client = _client(school)
    with time_machine.travel(time.time(), tick=False) as traveller:
        for n in range(6):
            _try(client, _unknown(n))
        assert _codes(_try(client, _unknown(7))) == GENERIC
        traveller.shift(DAY)
        assert _named(_try(client, _unknown(7)), _unknown(7))


def test_the_limits_are_configurable(school, settings):
    limits = {
        **settings.KOOLIVARAV["RATE_LIMITS"],
        "unknown_child_codes_per_address": (1, DAY),
    }
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    client = _client(school)
    assert _named(_try(client, _unknown(1)), _unknown(1))
    assert _codes(_try(client, _unknown(2))) == GENERIC


def test_the_general_message_is_in_english(school):
    client = _client(school)
    client.cookies["django_language"] = "en"
    for n in range(6):
        response = _try(client, _unknown(n))
    assert _errors(response, "child_id_codes") == [
        "At least one of the ID codes entered is not on this school's list of students. "
        "Please check the codes; if they are right, please contact the school "
        "(Jõgeva Põhikool)."
    ]


# --- how fast a stranger learns who attends the school -----------------------------------------


def _learn_for_an_hour(client, settings_limits) -> int:
    """Codes whose enrolment a stranger at one address learns until the form stops them.

    The stranger tries valid codes that are no student's (the usual case when guessing), as
    many per request as will still be named, one per request once names stop: a request with
    one code answers "not a student" or moves on to step 2 either way.
    """
    maximum, named_left = settings_limits
    learned = 0
    n = 0
    while True:
        batch = min(maximum, named_left) if named_left else 1
        codes = [_unknown(n + i) for i in range(batch)]
        n += batch
        response = _try(client, *codes, email=f"stranger{n}@example.ee")
        if response.status_code == 429:
            return learned
        if response.status_code == 200 and _codes(response) == ["codes_not_checked"]:
            continue  # no code was checked: nothing learned
        named = [code for code in codes if _named(response, code)]
        if named:
            learned += len(codes)  # the named are not students, the rest are
            named_left = max(0, named_left - len(named))
        elif response.status_code == 302 or len(codes) == 1:
            learned += len(codes)


def test_a_stranger_learns_20_codes_a_day_from_one_address_instead_of_7200(school, settings):
    # Before: ten codes a request, every one named, 30 requests an hour.
    settings.KOOLIVARAV = {
        **settings.KOOLIVARAV,
        "MAX_CHILDREN_PER_APPLICATION": 10,
        "RATE_LIMITS": {
            **settings.KOOLIVARAV["RATE_LIMITS"],
            "unknown_child_codes_per_address": (10**9, DAY),
            "unknown_child_codes_per_email": (10**9, DAY),
            "unknown_child_codes_stop_per_address": (10**9, DAY),
        },
    }
    assert _learn_for_an_hour(_client(school, "203.0.113.1"), (10, 10**9)) == 300
    # Now: five codes named in the first request, then one code a request until 20 unknown
    # codes in all; then no code is checked for that address until the day is over.
    settings.KOOLIVARAV = {
        **settings.KOOLIVARAV,
        "MAX_CHILDREN_PER_APPLICATION": 6,
        "RATE_LIMITS": {
            **settings.KOOLIVARAV["RATE_LIMITS"],
            "unknown_child_codes_per_address": (5, DAY),
            "unknown_child_codes_per_email": (5, DAY),
            "unknown_child_codes_stop_per_address": (20, DAY),
        },
    }
    stranger = _client(school, "203.0.113.2")
    learned = []
    # The day is the limits' window (fixed, from midnight UTC): one whole day of it.
    with time_machine.travel(time.time() // DAY * DAY + DAY + 60, tick=False) as traveller:
        for _hour in range(23):
            learned.append(_learn_for_an_hour(stranger, (6, 5 if not learned else 0)))
            traveller.shift(3600)
    assert learned[0] == 20
    assert sum(learned) == 20
    FIGURES["enumeration: codes learned from one address in a day, before"] = 30 * 10 * 24
    FIGURES["enumeration: codes learned from one address in a day, now"] = sum(learned)


def test_past_the_hard_limit_even_a_right_code_is_not_checked(school, child):
    stranger, parent = _client(school), _client(school, "198.51.100.9")
    for n in range(0, 20, 5):
        _try(stranger, *[_unknown(n + i) for i in range(5)], email=f"x{n}@example.ee")
    response = _try(stranger, child.id_code)
    assert response.status_code == 200
    assert _codes(response) == ["codes_not_checked"]
    # Another address is not affected.
    assert _try(parent, child.id_code).status_code == 302


# --- the browser keeps no copy of step 1 (issue 16, item 13) ------------------------------------


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_step_1_is_never_stored_by_the_browser(school, child):
    client = _client(school)
    assert _no_store(client.get(START))
    assert _no_store(_client(school).get(START))  # the page cache's copy
    assert _no_store(_try(client, _unknown(1)))  # the form again, with its codes
    assert _try(client, child.id_code).status_code == 302
    back = client.get(START)  # back from step 2: the codes typed are on the page
    assert child.id_code in back.content.decode()
    assert _no_store(back)


def test_step_1_with_the_sessions_data_never_goes_through_the_page_cache(school, child):
    assert child.id_code not in _client(school).get(START).content.decode()  # cached blank
    parent = _client(school, "203.0.113.8")
    assert _try(parent, child.id_code).status_code == 302
    assert STEP1_KEY in parent.session
    assert child.id_code in parent.get(START).content.decode()
    assert PARENT not in _client(school, "203.0.113.9").get(START).content.decode()
    assert child.id_code not in _client(school, "203.0.113.9").get(START).content.decode()
