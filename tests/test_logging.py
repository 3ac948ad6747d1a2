"""What the log says about health probes."""

import logging

from dashboard.logfilters import QuietProbeErrors


def test_a_not_ready_probe_is_not_logged_as_an_error(client, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    response = client.get("/readyz")
    assert response.status_code == 503, "no bridge runs in this test, so the app cannot be ready"
    assert not [r for r in caplog.records if r.name == "django.request"]


def test_other_paths_errors_still_pass_the_filter():
    class Request:
        path = "/d/overview/"

    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Service Unavailable", None, None)
    record.request = Request()
    assert QuietProbeErrors().filter(record) is True
    record.request.path = "/readyz"
    assert QuietProbeErrors().filter(record) is False
