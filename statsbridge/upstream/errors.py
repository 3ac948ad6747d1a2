"""Typed errors of the upstream client.

None of them ever carries a secret: messages name what failed (an HTTP status, a
server's error code, a URL path), never a token, password, client secret or API key.
"""


class UpstreamError(Exception):
    """Base class of every error raised by ``statsbridge.upstream``."""


class ConfigurationError(UpstreamError):
    """The deployment is misconfigured; retrying soon will not help.

    Raised for a wrong API key, wrong client credentials or wrong user credentials.
    The token provider reports it once and waits (with backoff) before asking again.
    """


class BadApiKey(ConfigurationError):
    """HTTP 403 from the API gateway: the ``x-api-key`` is wrong or missing."""

    def __init__(self, where: str = "upstream"):
        super().__init__(f"the API key was rejected by {where} (HTTP 403): check the API key (GENESYS_API_KEY)")


class BadClientCredentials(ConfigurationError):
    """HTTP 401 ``Bad credentials`` from the token endpoint: wrong client id or secret."""

    def __init__(self):
        super().__init__(
            "the OAuth client was rejected (HTTP 401 Bad credentials): "
            "check GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET"
        )


class BadUserCredentials(ConfigurationError):
    """HTTP 400 ``invalid_grant`` for the password grant: wrong user name or password."""

    def __init__(self):
        super().__init__(
            "the user credentials were rejected (HTTP 400 invalid_grant): "
            "check GENESYS_USERNAME (tenant\\user) and GENESYS_PASSWORD"
        )


class AuthenticationError(UpstreamError):
    """A freshly obtained token was refused again (HTTP 401 twice in a row)."""


class TransientError(UpstreamError):
    """A failure that may go away by itself: 5xx, timeouts, refused or reset connections."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class StatisticsApiError(UpstreamError):
    """The Statistics API answered with an error envelope (or an unusable HTTP error).

    ``code`` is the envelope's ``status.code`` (None when the body had no envelope),
    ``http_status`` the HTTP status, ``path`` the request path (no query string).
    """

    def __init__(self, *, code: int | None, message: str, path: str, http_status: int):
        self.code = code
        self.message = message
        self.path = path
        self.http_status = http_status
        super().__init__(f"{path}: HTTP {http_status}, code {code}: {message}")


class BayeuxProtocolError(UpstreamError):
    """A CometD server sent a reply that is not valid Bayeux (wrong types, too large...)."""


def is_envelope(body: object) -> bool:
    """Whether ``body`` is an ApiResponse / ErrorResponse envelope (``{"status": {...}}``)."""
    return isinstance(body, dict) and isinstance(body.get("status"), dict)


def is_api_key_rejection(status: int, body: object) -> bool:
    """Whether an HTTP reply is the API gateway refusing the ``x-api-key``.

    The reference documents that rejection as HTTP 403 ``{"message": "Forbidden"}`` on any
    endpoint. A 403 carrying the ``{"status": {"code", "message"}}`` envelope is an
    ordinary answer of the API itself (e.g. of ``POST /subscriptions``), not a bad key.
    """
    return status == 403 and not is_envelope(body)


def error_summary(body: object, limit: int = 200) -> str:
    """A short printable form of an error body in either documented form, or ``""``.

    ``{"error", "error_description"}`` (OAuth) gives ``error: description``; the
    ``{"status": {"code", "message"}}`` envelope gives ``code N: message``; the gateway's
    ``{"message"}`` gives the message. Servers never echo secrets there, and the text is
    cut to ``limit`` characters so a hostile body cannot flood a log line.
    """
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    if is_envelope(body):
        status = body["status"]
        code, message = status.get("code"), status.get("message")
        if isinstance(code, int) and not isinstance(code, bool):
            parts.append(f"code {code}")
        if isinstance(message, str) and message:
            parts.append(message)
    elif isinstance(body.get("error"), str):
        parts.append(body["error"])
        if isinstance(body.get("error_description"), str) and body["error_description"]:
            parts.append(body["error_description"])
    elif isinstance(body.get("message"), str):
        parts.append(body["message"])
    return ": ".join(parts)[:limit]
