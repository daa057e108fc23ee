"""Request ids (header, error pages, log lines) and the two log formats."""

import json
import logging
import os
import re
import subprocess
import sys
from datetime import date
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from koolivarav.operations.logging import JsonFormatter, PlainFormatter
from koolivarav.operations.scrubbing import scrub_text
from koolivarav.schools.demo import make_id_code

HOST = "jpk.example.ee"
REQUEST_ID = re.compile(r"[a-z2-7]{4}(?:-[a-z2-7]{4}){3}")
START = reverse("applications:start")
PARENT = make_id_code(birth=date(1984, 5, 17), female=True, serial=271)


def test_every_response_names_its_own_request_id_in_a_header(school):
    first = Client(HTTP_HOST=HOST).get(START)
    second = Client(HTTP_HOST=HOST).get(START)
    assert REQUEST_ID.fullmatch(first["X-Request-ID"])
    assert REQUEST_ID.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_request_id_sent_by_a_client_is_not_used_by_default(school):
    response = Client(HTTP_HOST=HOST, HTTP_X_REQUEST_ID="chosen-by-the-visitor").get(START)
    assert response["X-Request-ID"] != "chosen-by-the-visitor"
    assert REQUEST_ID.fullmatch(response["X-Request-ID"])


@pytest.mark.parametrize(
    ("trusted_proxies", "offered", "kept"),
    [
        (["127.0.0.1"], "0f3c2a9e4b1d4c7fa0b2c3d4e5f60718", True),  # nginx's $request_id
        (["127.0.0.1"], "2b7e1516-28ae-4d2a-a6ab-f7158809cf4f", True),  # a UUID
        ([], "0f3c2a9e4b1d4c7fa0b2c3d4e5f60718", False),  # not from a trusted proxy
        (["10.0.0.0/8"], "0f3c2a9e4b1d4c7fa0b2c3d4e5f60718", False),  # the peer is not one
        (["127.0.0.1"], "x\nINFO forged line", False),
        (["127.0.0.1"], "mari@example.ee", False),
        (["127.0.0.1"], f"id-{PARENT}", False),
        (["127.0.0.1"], "short", False),
        (["127.0.0.1"], "a" * 65, False),
    ],
)  # fmt: skip
def test_a_proxys_request_id_is_used_only_when_configured_trusted_and_safe(
    school, settings, trusted_proxies, offered, kept
):
    settings.LOG_REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
    settings.TRUSTED_PROXIES = trusted_proxies
    response = Client(HTTP_HOST=HOST, HTTP_X_REQUEST_ID=offered).get(START)
    assert (response["X-Request-ID"] == offered) is kept
    if not kept:
        assert REQUEST_ID.fullmatch(response["X-Request-ID"])


@pytest.mark.parametrize(
    ("error", "status"),
    [(RuntimeError("broken"), 500), (OperationalError("server closed the connection"), 503)],
)
def test_the_error_pages_show_the_request_id_a_parent_can_quote(school, error, status):
    client = Client(HTTP_HOST=HOST, raise_request_exception=False)
    with mock.patch(
        "koolivarav.applications.views.ApplicationStartView.get_initial", side_effect=error
    ):
        response = client.get(START)
    assert response.status_code == status
    request_id = response["X-Request-ID"]
    assert REQUEST_ID.fullmatch(request_id)
    assert request_id in response.content.decode()
    assert "Traceback" not in response.content.decode()


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("koolivarav.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_holds_the_request_id_and_only_the_allowed_extras(rf):
    request = rf.get("/password-reset/MQ/cdef12-" + "a" * 32 + "/?email=mari@example.ee")
    record = _record(
        "e-mail %s not delivered", 42, request_id="k3mf-7q2a-xw4n-b6tz", email_id=42,
        request=request, status_code=500, anything_else="x",
    )  # fmt: skip
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data == {
        "time": data["time"],
        "level": "WARNING",
        "logger": "koolivarav.test",
        "message": "e-mail 42 not delivered",
        "request_id": "k3mf-7q2a-xw4n-b6tz",
        "email_id": 42,
        "status_code": 500,
    }
    assert "\n" not in line


def test_a_json_line_carries_the_traceback_with_personal_data_masked():
    code = PARENT
    try:
        raise ValueError(f'Key (email)=(mari@example.ee) exists; code "{code}"')
    except ValueError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error: /", (),
            sys.exc_info(),
        )  # fmt: skip
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert "ValueError" in data["exc_info"]
    assert "[e-mail]" in data["exc_info"]
    assert "[id code]" in data["exc_info"]
    assert code not in line
    assert "mari@example.ee" not in line


def test_a_plain_line_names_the_request_id_and_masks_personal_data():
    code = PARENT
    record = _record(
        "lookup of %s for %s", code, "mari@example.ee", request_id="k3mf-7q2a-xw4n-b6tz"
    )
    line = PlainFormatter().format(record)
    assert "[k3mf-7q2a-xw4n-b6tz] lookup of [id code] for [e-mail]" in line


def test_a_plain_line_without_a_request_id_still_formats():
    assert "[-] hello" in PlainFormatter().format(_record("hello"))


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("child 49403136515 found", "child [id code] found"),
        ("q=494031+36515&x=1", "q=[id code]&x=1"),
        ("q=494031%2036515", "q=[id code]"),
        ("Mari 494031 36515", "Mari [id code]"),
        ("remember=kood-49403136515; x", "remember=kood-[id code]; x"),
        ("code_49403136515", "code_[id code]"),
        ("span bfcf12345678901c, commit 0a12345678901b2", None),
        ("to mari.maasikas+kool@example.ee.", "to [e-mail]."),
        ("?email=mari%40example.ee", "?email=[e-mail]"),
        ("/password-reset/MQ/cdef12-0123456789abcdef0123456789abcdef/", "/password-reset/MQ/[token]/"),
        ("e-mail 42 not delivered (attempt 3): SMTPRecipientsRefused", None),
        ("2025-06-01T12:00:00.123+00:00 k3mf-7q2a-xw4n-b6tz", None),
        ("a 12-digit run 123456789012 is not a code", None),
    ],
)  # fmt: skip
def test_scrubbing_masks_codes_addresses_and_tokens_and_nothing_else(text, scrubbed):
    assert scrub_text(text) == (text if scrubbed is None else scrubbed)


def _settings_in_a_process(**environment: str) -> subprocess.CompletedProcess[str]:
    """Import the production settings in a fresh process and print LOGGING's console handler."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LOG_"))}
    env.update(DEBUG="false", SECRET_KEY="x" * 50, **environment)
    code = (
        "import json; from config.settings import base; "
        "print(json.dumps([base.LOGGING['handlers']['console'], base.LOGGING['formatters'],"
        " base.LOGGING['filters']]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_plain_text_is_the_default_and_log_format_json_chooses_json_lines():
    plain = _settings_in_a_process()
    structured = _settings_in_a_process(LOG_FORMAT="json")
    handler, formatters, filters = json.loads(plain.stdout)
    assert handler["formatter"] == "plain"
    assert handler["filters"] == ["request_id"]
    assert filters["request_id"]["()"] == "log_request_id.filters.RequestIDFilter"
    assert formatters["plain"]["()"] == "koolivarav.operations.logging.PlainFormatter"
    assert formatters["json"]["()"] == "koolivarav.operations.logging.JsonFormatter"
    assert json.loads(structured.stdout)[0]["formatter"] == "json"


def test_an_unknown_log_format_stops_the_start():
    result = _settings_in_a_process(LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT" in result.stderr


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_app_server_writes_json_lines_with_the_request_id_of_its_response(school, smtp_server):
    from koolivarav.tests.processes import Browser, Site

    site = Site(smtp_port=smtp_server.port, cache_url="locmemcache://")
    site.env.update(LOG_FORMAT="json", LOG_LEVEL="INFO", LOG_REQUESTS="true")
    try:
        port = site.start_server()
        browser = Browser()
        _status, _text, headers = browser.get(port, START)
        status, _text, _headers = browser.post(
            port, START, {"parent_id_code": PARENT, "email": "mari@example.ee"}
        )
    finally:
        site.stop()
    written = "".join(log.read_text() for log in site.logs)
    ours = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
    request_lines = [line for line in ours if line["logger"] == "log_request_id.middleware"]
    assert status == 200  # the form again, with its errors
    [line] = [line for line in request_lines if line["request_id"] == headers["X-Request-ID"]]
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "log_request_id.middleware",
        "message": "method=GET view=applications:start status=200",
        "request_id": headers["X-Request-ID"],
    }
    assert len({line["request_id"] for line in request_lines}) == len(request_lines) >= 2
    assert PARENT not in written
    assert "mari@example.ee" not in written
