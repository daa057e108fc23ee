"""Bad input at every form and URL parameter of the site (SECURITY.md INP-4): huge strings,
control characters, NUL, odd Unicode, invalid UTF-8, wrong content types, missing CSRF.

Zero answers of 500 or more, and nothing invalid stored: after every example the database is
checked against what the forms allow. Every request is counted (the "figures" at the end of
the run). The application form's own fuzzing is in applications/tests/test_fuzz.py.
"""

from __future__ import annotations

import unicodedata
import urllib.parse
from datetime import date

import phonenumbers
import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from koolivarav.accounts.models import User
from koolivarav.accounts.tests.factories import (
    PASSWORD,
    SchoolAdminFactory,
    UserFactory,
    log_in_as_administrator,
)
from koolivarav.applications.models import Application, ChildDecision
from koolivarav.applications.services import ApplicantData, submit_application
from koolivarav.applications.tests.test_fuzz import field
from koolivarav.notifications.models import Email
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.idcodes import clean_id_code
from koolivarav.schools.models import Student
from koolivarav.schools.tests.factories import StudentFactory
from koolivarav.tests.figures import FIGURES

pytestmark = pytest.mark.slow

HOST = "jpk.example.ee"
EXAMPLES = 60  # per form; hypothesis adds its own edge cases first

# Strings people and programs send: ordinary text, control characters and NUL, direction
# marks and zero-width characters, every plane of Unicode, very long ones.
anything = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="\x00\x01\x08\x1b\x7f\u0085\u200b\u202e\u2028\ufeff \t\r\n'\"<>&%;-0123456789", max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=300, max_size=3000),
    st.sampled_from(
        ["", " ", "0", "-1", "9" * 40, "<script>alert(1)</script>", "' OR 1=1 --", "%00",
         "../../etc/passwd", "${7*7}", "{{7*7}}", "X\r\nBcc: kuri@example.com", "ä" * 10_000,
         "https://kuri.example.com/", "//kuri.example.com", "javascript:alert(1)"]
    ),
)  # fmt: skip


def fuzz(max_examples: int = EXAMPLES):
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def send(client: Client, method: str, url: str, data=None, name: str = ""):
    response = getattr(client, method.lower())(url, data or {})
    FIGURES[f"bad input: requests ({name or url})"] += 1
    FIGURES["bad input: requests in all"] += 1
    if response.status_code >= 500:
        FIGURES["bad input: answers ≥ 500"] += 1
    assert response.status_code < 500, (url, data)
    return response


def _no_control_characters(text: str) -> bool:
    return not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def assert_stored_data_is_valid() -> None:
    """What the forms allow, checked on every row that bad input could have reached."""
    for user in User.objects.all():
        if user.phone:
            number = phonenumbers.parse(user.phone)
            assert phonenumbers.is_valid_number(number), user.phone
            assert user.phone == phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.E164
            )
        assert _no_control_characters(user.address), user.address
        assert len(user.address) <= 300
        assert user.password.startswith(("md5$", "argon2$", "!")), "password stored as hashed"
    for student in Student.objects.all():
        assert clean_id_code(student.id_code) == student.id_code
        for text in (student.first_name, student.last_name, student.class_name):
            assert text.strip() == text
            assert text
            assert _no_control_characters(text)
    for application in Application.objects.all():
        reason = application.rejection_reason
        assert _no_control_characters(reason.replace("\n", "").replace("\t", "")), reason


@pytest.fixture
def everyone(school, fuzz_limits):
    """A parent with a child, a verified school administrator, a pending application."""
    child = StudentFactory(school=school)
    parent = UserFactory(school=school, email="mari@example.ee", phone="+37255512345")
    parent.children.add(child)
    admin = SchoolAdminFactory(school=school)
    other_child = StudentFactory(school=school)
    application = submit_application(
        school=school,
        data=ApplicantData(
            parent_id_code=make_id_code(birth=date(1980, 3, 4), female=True, serial=12),
            first_name="Mari",
            last_name="Mustikas",
            email="mustikas@example.ee",
            phone="+37255512345",
            child_id_codes=(other_child.id_code,),
        ),
        language="et",
    )
    return {"parent": parent, "child": child, "admin": admin, "application": application}


@pytest.fixture
def fuzz_limits(settings):
    """The rate limits and the lock-out would soon answer 429 to everything: lifted here."""
    limits = dict.fromkeys(settings.KOOLIVARAV["RATE_LIMITS"], (10**9, 3600))
    settings.KOOLIVARAV = {**settings.KOOLIVARAV, "RATE_LIMITS": limits}
    settings.AXES_FAILURE_LIMIT = 10**9


def anonymous() -> Client:
    return Client(HTTP_HOST=HOST)


# --- public forms ---------------------------------------------------------------------------------


@fuzz()
@given(username=field("mari@example.ee"), password=field(PASSWORD), next_url=anything)
def test_login(everyone, username, password, next_url):
    response = send(
        anonymous(),
        "POST",
        "/",
        {"username": username, "password": password, "next": next_url},
        "login",
    )
    if username == "mari@example.ee" and password == PASSWORD:
        assert response.status_code == 302
        event("logged in")
    else:
        assert response.status_code in (200, 429)  # never logged in by chance
    assert_stored_data_is_valid()


@fuzz()
@given(username=anything, password=anything)
def test_admin_login(everyone, username, password):
    response = send(
        anonymous(), "POST", reverse("admin:login"), {"username": username, "password": password}
    )
    assert response.status_code in (200, 429)


@fuzz()
@given(email=field("mari@example.ee"))
def test_password_reset(everyone, email):
    before = Email.objects.count()
    response = send(
        anonymous(), "POST", reverse("accounts:password_reset"), {"email": email}, "reset"
    )
    assert response.status_code in (200, 302)
    assert Email.objects.count() - before <= 1


@fuzz()
@given(uid=anything, token=anything, password=anything)
def test_password_reset_link(everyone, uid, token, password):
    uid, token = urllib.parse.quote(uid, safe="") or "x", urllib.parse.quote(token, safe="") or "x"
    url = f"/password-reset/{uid}/{token}/"
    client = anonymous()
    send(client, "GET", url, name="reset link")
    send(client, "POST", url, {"new_password1": password, "new_password2": password}, "reset link")
    user = User.objects.get(email="mari@example.ee")
    assert user.check_password(PASSWORD)  # an invalid link changes nothing


@fuzz()
@given(language=anything, next_url=anything)
def test_language_switch(everyone, language, next_url):
    response = send(
        anonymous(), "POST", "/i18n/setlang/", {"language": language, "next": next_url}, "language"
    )
    if response.status_code in (301, 302):
        location = response["Location"]
        parts = urllib.parse.urlsplit(location)
        assert not parts.scheme, location  # never to another site
        assert not parts.netloc, location
        assert not location.lstrip().startswith(("//", "/\\", "\\")), location


@fuzz()
@given(params=st.dictionaries(anything, anything, max_size=4))
def test_query_parameters_of_public_pages(everyone, params):
    client = anonymous()
    for url in ("/", reverse("applications:start"), reverse("accounts:password_reset"), "/health/"):
        send(client, "GET", url, params, "public pages' query parameters")


# --- a parent's pages -----------------------------------------------------------------------------


@fuzz()
@given(
    phone=field("+372 5551 2345"),
    address=field("Aia tn 5-12, Jõgeva linn"),
    current=st.one_of(st.just(PASSWORD), anything),
    new=field("Uus pikk salasõna"),
    again=field("Uus pikk salasõna"),
)
def test_profile(everyone, phone, address, current, new, again):
    client = anonymous()
    # Fresh from the database: the previous example set the password again, and a stale
    # object's session would be logged out (every example would then test only a redirect).
    client.force_login(User.objects.get(pk=everyone["parent"].pk))
    data = {
        "phone": phone,
        "address": address,
        "current_password": current,
        "password1": new,
        "password2": again,
    }
    response = send(client, "POST", reverse("accounts:profile"), data, "profile")
    assert response.status_code in (200, 302)
    if response.status_code == 302:  # saved, and back to the profile — not sent to log in
        assert response["Location"] == reverse("accounts:profile")
    event(f"profile answered {response.status_code}")
    if response.status_code == 302:
        FIGURES["bad input: profiles saved (each re-validated)"] += 1
    assert_stored_data_is_valid()
    parent = User.objects.get(pk=everyone["parent"].pk)
    if response.status_code == 200:  # refused: nothing of it was saved
        assert parent.phone == everyone["parent"].phone
    parent.set_password(PASSWORD)  # the next example starts from the same password
    parent.phone, parent.address = everyone["parent"].phone, everyone["parent"].address
    parent.save()


@fuzz()
@given(pk=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), anything))
def test_child_page_address(everyone, pk):
    client = anonymous()
    client.force_login(everyone["parent"])
    url = f"/children/{urllib.parse.quote(str(pk), safe='')}/"
    response = send(client, "GET", url, name="child page")
    if pk != everyone["child"].pk:
        assert response.status_code == 404


# --- the administration ---------------------------------------------------------------------------


ADMIN_LISTS = [
    "admin:applications_application_changelist",
    "admin:schools_student_changelist",
    "admin:accounts_user_changelist",
    "admin:notifications_email_changelist",
    "admin:accounts_auditentry_changelist",
]


@fuzz()
@given(
    params=st.dictionaries(
        st.one_of(st.sampled_from(["q", "o", "p", "e", "status__exact", "created_at__gte",
                                   "all", "_changelist_filters", "role__exact"]), anything),
        anything,
        max_size=4,
    )
)  # fmt: skip
def test_admin_list_parameters(everyone, params):
    client = log_in_as_administrator(anonymous(), everyone["admin"])
    for name in ADMIN_LISTS:
        send(client, "GET", reverse(name), params, "admin lists' query parameters")


@fuzz()
@given(object_id=anything)
def test_admin_object_addresses(everyone, object_id):
    client = log_in_as_administrator(anonymous(), everyone["admin"])
    quoted = urllib.parse.quote(object_id, safe="") or "x"
    for model in ("applications/application", "schools/student", "accounts/user"):
        send(client, "GET", f"/admin/{model}/{quoted}/change/", name="admin object addresses")


@fuzz()
@given(
    id_code=field(make_id_code(birth=date(2015, 2, 3), female=False, serial=33)),
    first_name=field("Jüri"),
    last_name=field("O'Neill-Põder"),
    class_name=field("3.b"),
)
def test_admin_adds_a_student(everyone, id_code, first_name, last_name, class_name):
    client = log_in_as_administrator(anonymous(), everyone["admin"])
    data = {
        "id_code": id_code,
        "first_name": first_name,
        "last_name": last_name,
        "class_name": class_name,
        "is_active": "on",
        "guardian_id_codes": "",
    }
    before = set(Student.objects.values_list("pk", flat=True))
    response = send(
        client, "POST", reverse("admin:schools_student_add"), data, "admin: add student"
    )
    event(f"student form answered {response.status_code}")
    if response.status_code == 302:
        FIGURES["bad input: students stored (each re-validated)"] += 1
    assert_stored_data_is_valid()
    Student.objects.exclude(pk__in=before).delete()


@fuzz()
@given(reason=st.one_of(st.sampled_from(["other", "not_guardian"]), anything), details=anything)
def test_admin_rejects_with_a_reason(everyone, reason, details):
    client = log_in_as_administrator(anonymous(), everyone["admin"])
    application = everyone["application"]
    data = {
        "action": "reject_selected",
        "_selected_action": [application.pk],
        "apply_reject": "1",
        "reason": reason,
        "details": details,
    }
    send(client, "POST", reverse("admin:applications_application_changelist"), data, "reject")
    assert_stored_data_is_valid()
    # Back to pending for the next example, with the children's decisions a rejection records.
    Application.objects.filter(pk=application.pk).update(
        status=Application.Status.PENDING, rejection_reason=""
    )
    ChildDecision.objects.filter(application=application.pk).delete()


@fuzz()
@given(code=anything, next_url=anything)
def test_second_factor_code(everyone, code, next_url):
    client = anonymous()
    client.force_login(everyone["admin"])  # password only
    for url in (reverse("admin:second_factor_setup"),):
        response = send(client, "POST", url, {"code": code, "next": next_url}, "second factor")
        if response.status_code == 302:
            pytest.fail("a random code set up the authenticator app")
    assert client.get(reverse("admin:applications_application_changelist")).status_code == 302


# --- malformed requests at every form -------------------------------------------------------------

POST_URLS = {
    "login": ("/", None),
    "admin login": ("/admin/login/", None),
    "application step 1": ("/apply/", None),
    "application step 2": ("/apply/confirm/", None),
    "password reset": ("/password-reset/", None),
    "language": ("/i18n/setlang/", None),
    "profile": ("/profile/", "parent"),
    "logout": ("/logout/", "parent"),
    "second factor": ("/admin/second-factor/setup/", "admin-password-only"),
    "admin: add student": ("/admin/schools/student/add/", "admin"),
    "admin: queue action": ("/admin/applications/application/", "admin"),
}

BODIES = [
    (b"username=\xff\xfe&password=%ff%fe%00&phone=\xc3\x28", "application/x-www-form-urlencoded"),
    (b"\x00\x01\x02" * 1000, "application/x-www-form-urlencoded"),
    (b'{"username": "mari", "password": 1}', "application/json"),
    (b"<xml>&lt;</xml>", "text/xml"),
    (b"--x\r\nbroken multipart", "multipart/form-data; boundary=x"),
    (b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n', "multipart/form-data"),
    (b"a=" + b"1" * 200_000, "application/x-www-form-urlencoded"),
    (b"a=1&" * 2000, "application/x-www-form-urlencoded"),
    (b"%" * 1000, "application/x-www-form-urlencoded; charset=utf-16"),
    (b"a=b", "application/x-www-form-urlencoded; charset=no-such-charset"),
]


def _client_for(role: str | None, people) -> Client:
    client = Client(HTTP_HOST=HOST, raise_request_exception=False)
    if role == "parent":
        client.force_login(people["parent"])
    elif role == "admin":
        log_in_as_administrator(client, people["admin"])
    elif role == "admin-password-only":
        client.force_login(people["admin"])
    return client


@pytest.mark.parametrize("name", POST_URLS)
def test_malformed_bodies_at_every_form(everyone, name):
    url, role = POST_URLS[name]
    before = (User.objects.count(), Application.objects.count(), Student.objects.count())
    for body, content_type in BODIES:
        client = _client_for(role, everyone)
        response = client.generic("POST", url, body, content_type)
        FIGURES["bad input: malformed bodies sent"] += 1
        assert response.status_code < 500, (name, body[:40], content_type)
    assert (User.objects.count(), Application.objects.count(), Student.objects.count()) == before
    assert_stored_data_is_valid()


@pytest.mark.parametrize("name", POST_URLS)
def test_every_form_refuses_a_post_without_the_csrf_token(everyone, name):
    url, role = POST_URLS[name]
    client = _client_for(role, everyone)
    client.handler.enforce_csrf_checks = True
    response = client.post(url, {"username": "mari@example.ee", "password": PASSWORD})
    FIGURES["bad input: posts without a CSRF token"] += 1
    assert response.status_code == 403
    assert "Traceback" not in response.content.decode()


# --- what the fuzzing found (kept as plain tests, on both databases) ------------------------------


def test_a_nul_in_the_query_string_is_a_bad_request(everyone):
    client = log_in_as_administrator(anonymous(), everyone["admin"])
    for url in ("/admin/applications/application/?status__exact=%00", "/?next=a%00b"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "Traceback" not in response.content.decode()


@pytest.mark.parametrize("url", ["/", "/admin/login/"])
def test_a_very_long_user_name_is_just_a_failed_login(everyone, url):
    response = anonymous().post(url, {"username": "0" * 300, "password": "x"})
    assert response.status_code == 200
    response = anonymous().post(url, {"username": "ä" * 5000, "password": "x"})
    assert response.status_code == 200
