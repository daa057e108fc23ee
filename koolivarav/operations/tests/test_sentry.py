"""Error reports: what reaches a Sentry-compatible server holds no personal data.

A local HTTP server on 127.0.0.1 plays the DSN's endpoint; the SDK sends it real envelopes.
"""

import gzip
import http.client
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import pytest
import sentry_sdk
from django.urls import reverse

from koolivarav.operations.sentry import scrub_breadcrumb, scrub_event, start_error_reports
from koolivarav.schools.demo import make_id_code
from koolivarav.schools.tests.factories import StudentFactory
from koolivarav.tests.processes import Browser, wait_until

HOST = "jpk.example.ee"
START = reverse("applications:start")
PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)


class _Endpoint(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def error_reports():
    """Error reports switched on, sent to a server on 127.0.0.1; yields what it received."""
    received: list[tuple[str, bytes]] = []
    handler = type("Endpoint", (_Endpoint,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start_error_reports(dsn=f"http://public@127.0.0.1:{server.server_port}/1", environment="test")
    yield received
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.init()  # no DSN: the SDK is off again for the other tests
    server.shutdown()
    server.server_close()


def _events(received: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """The event items of the envelopes (a header line, then item header and payload lines)."""
    events = []
    for _path, body in received:
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


def test_an_exception_in_a_request_reaches_the_server_without_personal_data(
    school, transactional_db, live_server, error_reports
):
    """Through a real WSGI server (the SDK reads the URL and headers at the WSGI layer): a
    parent's step 2 fails with an error whose message names their code and address."""
    children = [StudentFactory(school=school), StudentFactory(school=school)]
    port = int(live_server.url.rsplit(":", 1)[1])
    browser = Browser()
    browser.get(port, START)
    status, _text, _headers = browser.post(
        port,
        START,
        {
            "child_id_codes": " ".join(c.id_code for c in children),
            "parent_id_code": PARENT,
            "first_name": "Mari",
            "last_name": "Maasikas",
            "email": "mari@example.ee",
            "phone": "5551 2345",
        },
    )
    assert status == 302
    cookies = {**browser.cookies, "remember": f"kood-{PARENT}"}
    form = {
        "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        "email_again": "mari@example.ee",
        "note": "Maasikasõis",
    }
    failure = RuntimeError(f"submitting for {PARENT} <mari@example.ee> failed")
    with mock.patch("koolivarav.applications.views.receive_application", side_effect=failure):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request(
            "POST",
            f"{reverse('applications:confirm')}?child={children[0].id_code}&q=Maasikas",
            body=urllib.parse.urlencode(form),
            headers={
                "Host": HOST,
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                "Authorization": "Bearer bearer-secret-123",
                "X-Forwarded-For": "192.0.2.77",
                "Referer": f"https://{HOST}/?child={children[1].id_code}",
            },
        )
        response = connection.getresponse()
        page = response.read().decode()
    assert response.status == 500
    request_id = response.headers["X-Request-ID"]
    assert request_id in page
    sentry_sdk.flush(timeout=5)
    wait_until(lambda: _events(error_reports), 5, "the error report arrives")

    [event] = _events(error_reports)
    sent = json.dumps(event, ensure_ascii=False)
    assert [e["type"] for e in event["exception"]["values"]] == ["RuntimeError"]
    assert event["exception"]["values"][0]["value"] == "submitting for [id code] <[e-mail]> failed"
    assert event["tags"]["request_id"] == request_id
    assert event["request"]["url"] == f"http://{HOST}/apply/confirm/"
    assert event["request"]["method"] == "POST"
    assert event["request"]["query_string"] == "child=[Filtered]&q=[Filtered]"
    assert set(event["request"]["headers"]) == {"Host", "Content-Type", "Content-Length"}
    assert "cookies" not in event["request"]
    assert "env" not in event["request"]
    assert "user" not in event
    secrets = [
        PARENT, *(c.id_code for c in children), "mari@example.ee", "Maasikas", "bearer-secret",
        "192.0.2.77", *browser.cookies.values(),
    ]  # fmt: skip
    assert [s for s in secrets if s in sent] == []


def test_scrubbing_an_event_that_holds_everything_the_sdk_could_collect():
    code = PARENT
    event = {
        "request": {
            "url": f"https://{HOST}/password-reset/MQ/cdef12-{'a' * 32}/?email=mari@example.ee",
            "query_string": f"code={code}&email=mari%40example.ee",
            "data": {"parent_id_code": code, "password": "Salasõna-123"},
            "cookies": {"sessionid": "abc"},
            "headers": {"Cookie": "sessionid=abc", "Authorization": "Basic eA==", "Host": HOST},
            "env": {"REMOTE_ADDR": "192.0.2.1"},
        },
        "user": {"id": 7, "email": "mari@example.ee"},
        "exception": {
            "values": [
                {
                    "type": "IntegrityError",
                    "value": "Key (email)=(mari@example.ee) already exists.",
                    "stacktrace": {"frames": [{"function": "f", "vars": {"code": code}}]},
                }
            ]
        },
        "breadcrumbs": {"values": [{"message": f"looked up {code}", "category": "x"}]},
        "extra": {"sys.argv": ["manage.py", "import_students", f"--code={code}"]},
    }
    scrubbed = scrub_event(event, {})
    assert scrubbed["request"] == {
        "url": f"https://{HOST}/password-reset/MQ/[token]/",
        "query_string": "code=[Filtered]&email=[Filtered]",
        "data": "[Filtered]",
        "headers": {"Host": HOST},
    }
    assert "user" not in scrubbed
    [value] = scrubbed["exception"]["values"]
    assert value["value"] == "Key (email)=([e-mail]) already exists."
    assert value["stacktrace"]["frames"] == [{"function": "f"}]
    assert scrubbed["breadcrumbs"]["values"][0]["message"] == "looked up [id code]"
    assert code not in json.dumps(scrubbed)


def test_a_breadcrumb_is_scrubbed_when_it_is_recorded():
    crumb = {"category": "query", "message": "SELECT 1", "data": {"q": "mari@example.ee"}}
    assert scrub_breadcrumb(crumb, {})["data"] == {"q": "[e-mail]"}


def test_a_log_lines_request_object_stays_out_of_breadcrumbs_and_events():
    request = "<WSGIRequest: GET '/admin/accounts/user/?q=Mari+Maasikas'>"
    crumb = {"category": "django.security.csrf", "data": {"request": request, "status_code": 403}}
    event = {"logentry": {"message": "Forbidden"}, "extra": {"request": request, "email_id": 4}}
    assert scrub_breadcrumb(crumb, {})["data"] == {"status_code": 403}
    assert scrub_event(event, {})["extra"] == {"email_id": 4}


@pytest.mark.parametrize(("dsn", "on"), [("", False), ("http://public@127.0.0.1:9/1", True)])
def test_error_reports_are_on_only_when_a_dsn_is_set(dsn, on):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SENTRY_"))}
    env.update(DEBUG="false", SECRET_KEY="x" * 50, SENTRY_DSN=dsn)
    program = (
        "import sentry_sdk; from config.settings import base; c = sentry_sdk.get_client(); "
        "print(c.is_active(), c.options['send_default_pii'], c.options['max_request_body_size'],"
        " c.options['include_local_variables'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    if on:
        assert result.stdout.split() == ["True", "False", "never", "False"]
    else:
        assert result.stdout.split()[0] == "False"
