"""Logging filters: what must not reach the logs, and what is not an error."""

import logging
import re

# A probe's 503 is an answer ("not ready, because..."), not a server error.
PROBE_PATHS = frozenset({"/readyz", "/healthz"})

# A wall's URL carries its secret token; paths are logged by Django and daphne.
WALL_TOKEN = re.compile(r"(/wall/)[^/\s'\"?#]+")
REDACTED = r"\1<token>"


class QuietProbeErrors(logging.Filter):
    """Drop django.request's error records for the answers of health probes."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return getattr(request, "path", None) not in PROBE_PATHS


def redact(value):
    """Return ``value`` with wall tokens in it replaced (strings only)."""
    return WALL_TOKEN.sub(REDACTED, value) if isinstance(value, str) else value


class RedactWallTokens(logging.Filter):
    """Replace the token of every /wall/<token>/ and /ws/wall/<token>/ path in a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact(arg) for key, arg in record.args.items()}
        return True
