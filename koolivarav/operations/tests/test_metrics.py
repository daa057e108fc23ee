"""/metrics: only with the token; requests by view, the outbox, the review queues, logins and
lock-outs; never a person's data in a label, never a 500 from what a client sends."""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import time_machine
from django.db import OperationalError, transaction
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from koolivarav.accounts.tests.factories import PASSWORD, UserFactory
from koolivarav.applications.models import Application
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import queue_email
from koolivarav.operations import selectors
from koolivarav.schools.demo import make_id_code

TOKEN = "t" * 20 + "-metrics-test-token-0123456789"


@pytest.fixture
def token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def prometheus():
    """Prometheus scraping a backend by its own address."""
    return Client(HTTP_HOST="10.0.3.7:8000", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- who may read it ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_configured_token_there_is_no_metrics_endpoint(settings, prometheus):
    settings.METRICS_TOKEN = ""
    assert prometheus.get("/metrics").status_code == 404
    assert Client(HTTP_AUTHORIZATION="Bearer ").get("/metrics").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
def test_without_the_right_bearer_token_metrics_is_not_found(token, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = Client(HTTP_HOST="10.0.3.7:8000", **headers).get("/metrics")
    assert response.status_code == 404
    assert b"koolivarav" not in response.content


@pytest.mark.django_db
def test_the_token_opens_metrics_by_the_backends_address_over_plain_http(token, settings):
    settings.ALLOWED_HOSTS = ["jpk.example.ee"]
    settings.SECURE_SSL_REDIRECT = True
    response = Client(HTTP_HOST="10.0.3.7:8000", HTTP_AUTHORIZATION=f"bearer {TOKEN}").get(
        "/metrics"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"koolivarav_database_up 1.0" in response.content
    assert not response.cookies


@pytest.mark.django_db
def test_a_short_token_is_refused_at_start(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import config.settings.base as base

    monkeypatch.setenv("METRICS_TOKEN", "too-short")
    with pytest.raises(ImproperlyConfigured, match="at least 32"):
        importlib.reload(base)
    monkeypatch.delenv("METRICS_TOKEN")
    importlib.reload(base)


# --- requests by view -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_counted_and_timed_by_view(school_client):
    labels = {"view": "home", "method": "GET"}
    before = value(
        "django_http_responses_total_by_status_view_method_total", status="200", **labels
    )
    timed = value("django_http_requests_latency_seconds_by_view_method_count", **labels)
    school_client.get("/")
    after = value("django_http_responses_total_by_status_view_method_total", status="200", **labels)
    assert after == before + 1
    assert value("django_http_requests_latency_seconds_by_view_method_count", **labels) == timed + 1


@pytest.mark.django_db
def test_probes_and_scrapes_are_not_counted_as_requests(token, prometheus):
    before = value("django_http_requests_total_by_method_total", method="GET")
    prometheus.get("/health/live")
    prometheus.get("/metrics")
    assert value("django_http_requests_total_by_method_total", method="GET") == before


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["FOOBAR", "QWERTY12345", "PROPFIND"])
def test_a_made_up_method_adds_no_series(school_client, token, prometheus, method):
    """django-prometheus' latency histogram took the method as sent: each made-up method a
    client sends was a new set of series in every worker (fails before the fix)."""
    school_client.generic(method, "/")
    text = prometheus.get("/metrics").content.decode()
    assert f'method="{method}"' not in text
    assert 'method="<invalid method>"' in text


@pytest.mark.django_db
@pytest.mark.parametrize("length", ["abc", "1e3", " ", "-5"])
def test_a_content_length_that_is_no_number_is_no_500(school_client, length):
    """django-prometheus read Content-Length with int(): "abc" raised, a 500 (fails before the
    fix; gunicorn refuses such a request itself, other servers pass it on)."""
    response = school_client.get("/", CONTENT_LENGTH=length)
    assert response.status_code == 200


# --- the outbox and the review queues -------------------------------------------------------------


def _queue(school, n: int) -> list[Email]:
    with transaction.atomic():
        return [
            queue_email(
                school=school,
                to=f"vanem{i}@example.ee",
                kind="test",
                template="applications/email/new_application",
            )
            for i in range(n)
        ]


def _application(school, n: int, **fields) -> Application:
    return Application.objects.create(
        school=school,
        parent_id_code=make_id_code(birth=date(1981, 2, n), female=True, serial=n),
        first_name="Mari",
        last_name=f"Vanem{n}",
        email=f"vanem{n}@example.ee",
        phone="+37255512345",
        **fields,
    )


@pytest.mark.django_db
def test_the_outbox_by_state_and_its_oldest_due_age(school, token, prometheus):
    now = timezone.now()
    with time_machine.travel(now, tick=False) as traveller:
        emails = _queue(school, 5)
        Email.objects.filter(pk=emails[0].pk).update(status=Email.Status.SENT)
        Email.objects.filter(pk=emails[1].pk).update(status=Email.Status.FAILED)
        Email.objects.filter(pk=emails[2].pk).update(next_attempt_at=now + timedelta(hours=1))
        traveller.shift(timedelta(seconds=90))
        samples = scrape(prometheus)
    outbox = {
        labels[0][1]: n
        for (name, labels), n in samples.items()
        if name == "koolivarav_outbox_emails"
    }
    assert outbox == {"queued": 3, "sending": 0, "sent": 1, "failed": 1}
    assert samples[("koolivarav_outbox_oldest_due_seconds", ())] == 90


@pytest.mark.django_db
def test_nothing_due_is_an_age_of_zero(school, token, prometheus):
    assert scrape(prometheus)[("koolivarav_outbox_oldest_due_seconds", ())] == 0


@pytest.mark.django_db
def test_applications_waiting_by_school_short_name(school, other_school, token, prometheus):
    _application(school, 1)
    _application(school, 2)
    _application(school, 3, status=Application.Status.REJECTED)
    samples = scrape(prometheus)
    assert samples[("koolivarav_applications_pending", (("school", "jpk"),))] == 2
    assert samples[("koolivarav_applications_pending", (("school", "tamme"),))] == 0


@pytest.mark.django_db
def test_with_the_database_away_a_scrape_still_answers(token, prometheus, monkeypatch):
    def away() -> dict[str, int]:
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "emails_by_status", away)
    samples = scrape(prometheus)
    assert samples[("koolivarav_database_up", ())] == 0
    assert not any(name.startswith("koolivarav_outbox") for name, _labels in samples)


# --- logins and lock-outs -------------------------------------------------------------------------


@pytest.mark.django_db
def test_logins_failures_and_lock_outs_are_counted_by_school(school, school_client, settings):
    UserFactory(school=school, email="mari@example.ee", first_name="Mari", last_name="Õunapuu")
    logins = value("koolivarav_logins_total", school="jpk")
    failures = value("koolivarav_login_failures_total", school="jpk")
    lockouts = value("koolivarav_login_lockouts_total", school="jpk")
    assert (
        school_client.post("/", {"username": "mari@example.ee", "password": PASSWORD}).status_code
        == 302
    )
    anonymous = Client(HTTP_HOST="jpk.example.ee")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        anonymous.post("/", {"username": "Mari Õunapuu", "password": "vale-salasõna"})
    assert (
        anonymous.post("/", {"username": "mari õunapuu", "password": PASSWORD}).status_code == 429
    )
    assert value("koolivarav_logins_total", school="jpk") == logins + 1
    # Every wrong password, and the right one refused while locked.
    assert value("koolivarav_login_failures_total", school="jpk") == (
        failures + settings.AXES_FAILURE_LIMIT + 1
    )
    # The failure that locked, and the try while locked.
    assert value("koolivarav_login_lockouts_total", school="jpk") == lockouts + 2


# --- no personal data -----------------------------------------------------------------------------

ID_CODE = re.compile(r"\b[1-6]\d{10}\b")


@pytest.mark.django_db
def test_no_label_holds_a_persons_data(school, token, prometheus, settings):
    application = _application(school, 1)
    UserFactory(school=school, email="mari@example.ee", first_name="Mari", last_name="Õunapuu")
    client = Client(HTTP_HOST="jpk.example.ee")
    client.post("/", {"username": "mari@example.ee", "password": PASSWORD})
    client.get(f"/no-such-page/{application.parent_id_code}/?email=mari@example.ee")
    Client(HTTP_HOST="jpk.example.ee").post("/", {"username": "Mari Õunapuu", "password": "x"})
    _queue(school, 1)
    text = prometheus.get("/metrics").content.decode()
    label_values = re.findall(r'="([^"]*)"', text)
    assert label_values
    for personal in ("mari", "Õunapuu", "@", application.parent_id_code, application.first_name):
        assert not any(personal.lower() in v.lower() for v in label_values), personal
    assert not ID_CODE.search(text)


# --- real processes: two gunicorn workers adding up -----------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_counts_add_up_across_gunicorn_workers_in_multiprocess_mode(school, site, tmp_path):
    import http.client

    from koolivarav.tests.figures import FIGURES
    from koolivarav.tests.processes import Browser

    UserFactory(school=school, email="mari@example.ee")
    processes = site(METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    port = processes.start_server(workers=2)

    def get(path: str, **headers: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path, headers={"Host": "jpk.example.ee", **headers})
        response = connection.getresponse()
        return response.status, response.read().decode()

    requests = 0
    with ThreadPoolExecutor(12) as pool:  # at once, until both workers have taken some
        # On a busy machine one worker can take every request for a while: keep sending
        # (up to 3,000) until each has answered some.
        while requests < 3000 and (
            len(_health_requests_per_process(tmp_path)) < 2
            or not all(_health_requests_per_process(tmp_path))
        ):
            assert set(pool.map(lambda _n: get("/health/")[0], range(30))) == {200}
            requests += 30
    browser = Browser()
    browser.get(port, "/")
    browser.post(port, "/", {"username": "mari@example.ee", "password": "vale-salasõna"})
    assert get("/metrics")[0] == 404  # no token: not there
    per_worker = _health_requests_per_process(tmp_path)
    assert len(per_worker) == 2
    assert all(per_worker), per_worker  # both workers served some
    assert sum(per_worker) == requests
    for _ in range(6):  # whichever worker answers, the sums are the same
        status, text = get("/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        health = (("method", "GET"), ("status", "200"), ("view", "health"))
        assert (
            samples[("django_http_responses_total_by_status_view_method_total", health)] == requests
        )
        assert samples[("koolivarav_login_failures_total", (("school", "jpk"),))] == 1
        assert samples[("koolivarav_database_up", ())] == 1
    FIGURES["metrics: requests sent to 2 gunicorn workers"] += requests
    FIGURES["metrics: requests a scrape counted"] += samples[
        ("django_http_responses_total_by_status_view_method_total", health)
    ]
    for number, served in enumerate(per_worker, 1):
        FIGURES[f"metrics: of which gunicorn worker {number} served"] += served


def _health_requests_per_process(directory) -> list[int]:
    """What each process's own counter files say (the sum a scrape shows, taken apart)."""
    import shutil
    import tempfile

    from prometheus_client import CollectorRegistry, multiprocess

    counts = []
    for pid in sorted({p.stem.rsplit("_", 1)[-1] for p in directory.glob("counter_*.db")}):
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(directory / f"counter_{pid}.db", alone)
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=alone)
            labels = {"method": "GET", "status": "200", "view": "health"}
            name = "django_http_responses_total_by_status_view_method_total"
            counts.append(int(registry.get_sample_value(name, labels) or 0))
    return counts
