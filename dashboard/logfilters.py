"""Logging filters."""

import logging

# A probe's 503 is an answer ("not ready, because..."), not a server error.
PROBE_PATHS = frozenset({"/readyz", "/healthz"})


class QuietProbeErrors(logging.Filter):
    """Drop django.request's error records for the answers of health probes."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return getattr(request, "path", None) not in PROBE_PATHS
