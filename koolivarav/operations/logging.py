"""Formatters for the log: plain text (the default, for `make run` and a terminal) or one JSON
object a line (LOG_FORMAT=json, for a log collector). Both carry the request's id (set by
log_request_id's filter on the handler) and mask whatever looks like an ID code, an e-mail
address or a reset token (koolivarav.operations.scrubbing)."""

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from .scrubbing import scrub_text

# Fields a log call may add with extra= that reach a JSON line. Any other extra stays out:
# Django's own (`request`, with its path and query string) and whatever a library adds.
EXTRA_FIELDS = ("email_id", "status_code")


class PlainFormatter(logging.Formatter):
    """One line of text: time, level, logger, [request id], message."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            defaults={"request_id": "-"},
        )

    def format(self, record: logging.LogRecord) -> str:
        return scrub_text(super().format(record))


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: time (UTC), level, logger, message, request_id, the allowed
    extras (email_id for the worker's lines) and the traceback when there is one."""

    def __init__(self) -> None:
        super().__init__(json_ensure_ascii=False)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.getMessage()
        log_data["request_id"] = getattr(record, "request_id", "-")
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                log_data[name] = getattr(record, name)
        for name in ("exc_info", "stack_info"):
            if message_dict.get(name):
                log_data[name] = message_dict[name]

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {
            key: scrub_text(value) if isinstance(value, str) else value
            for key, value in log_data.items()
        }
