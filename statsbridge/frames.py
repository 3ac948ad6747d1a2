"""Every frame of the browser wire protocol: builders and one schema validator.

docs/architecture.md is the contract. Builders here are the only way the server makes
frames, and ``validate_frame`` checks any frame (server → browser or browser → server)
against the contract, so tests can check every frame the system sends in one place.
"""

import math
import time

KINDS = ("number", "duration", "percentage", "agent_state", "unknown")
VALUE_STATES = ("fresh", "stale", "unknown")
UPSTREAM_STATES = ("connected", "polling", "connecting", "reconnecting", "down")
SERVICE_STATES = ("AVAILABLE", "UNAVAILABLE", "UNKNOWN")
BRIDGE_STATES = ("up", "down")
ALERT_SEVERITIES = ("info", "warning", "critical")
ALERT_STATES = ("firing", "acknowledged")
ERROR_CODES = ("bad_json", "bad_message", "too_large", "rate_limited", "unknown_type")
MAX_CLIENT_FRAME_BYTES = 4096


class FrameError(ValueError):
    """A frame does not follow the wire protocol; the message says where."""


def now_ms() -> int:
    """Wall-clock time in milliseconds, the unit of every time on the wire."""
    return int(time.time() * 1000)


# ---------------------------------------------------------------- builders


def value(
    *,
    kind: str,
    value: float | None,
    text: str,
    state: str,
    timestamp: int | None,
    received: int,
    agent: dict | None = None,
) -> dict:
    """A Value: one statistic's current reading."""
    frame = {"kind": kind, "value": value, "text": text, "state": state, "timestamp": timestamp, "received": received}
    if kind == "agent_state":
        frame["agent"] = {"state": agent["state"], "reason": agent.get("reason"), "since": agent.get("since")}
    return frame


def with_state(current: dict, state: str) -> dict:
    """The same Value in another freshness state."""
    return {**current, "state": state}


def connection(*, upstream: str, service: str, bridge: str, as_of: int | None = None,
               poll_seconds: float | None = None) -> dict:
    """A Connection: how the bridge, its upstream link and the service are doing.

    ``poll_seconds`` (how often values are polled) is carried only while ``upstream`` is
    ``"polling"``: CometD cannot be held and values are read by REST instead.
    """
    frame = {"upstream": upstream, "service": service, "bridge": bridge, "as_of": as_of if as_of is not None else now_ms()}
    if upstream == "polling" and poll_seconds is not None:
        frame["poll_seconds"] = poll_seconds
    return frame


def snapshot(dashboard: str, seq: int, connection_: dict, values: dict) -> dict:
    """The full state of a dashboard, sent first and on resync."""
    return {"type": "snapshot", "dashboard": dashboard, "seq": seq, "connection": connection_, "values": values}


def batch(dashboard: str, seq: int, values: dict) -> dict:
    """What changed on a dashboard during one tick."""
    return {"type": "batch", "dashboard": dashboard, "seq": seq, "values": values}


def status(dashboard: str, seq: int, connection_: dict) -> dict:
    """A change of the connection state, per dashboard."""
    return {"type": "status", "dashboard": dashboard, "seq": seq, "connection": connection_}


def alert(*, id: int, rule: str, severity: str, state: str, text: str, since: int) -> dict:
    """An Alert: one open alert shown on a dashboard's screens."""
    return {"id": id, "rule": rule, "severity": severity, "state": state, "text": text, "since": since}


def alerts(dashboard: str, items: list[dict]) -> dict:
    """Every open alert of a dashboard (it replaces the previous list; empty: none)."""
    return {"type": "alerts", "dashboard": dashboard, "alerts": items}


def error(code: str, message: str) -> dict:
    """A rejected client frame; the socket stays open."""
    if code not in ERROR_CODES:
        raise FrameError(f"unknown error code {code!r}")
    return {"type": "error", "code": code, "message": message}


def reload(reason: str) -> dict:
    """Tell a wall page to reload itself."""
    return {"type": "reload", "reason": reason}


def pong(t, server_time: int | None = None) -> dict:
    """The answer to a ping."""
    return {"type": "pong", "t": t, "server_time": server_time if server_time is not None else now_ms()}


# ---------------------------------------------------------------- validation


def _require(frame: dict, where: str, fields: dict[str, object]) -> None:
    missing = [name for name in fields if name not in frame]
    if missing:
        raise FrameError(f"{where}: missing {', '.join(missing)}")
    extra = sorted(set(frame) - set(fields))
    if extra:
        raise FrameError(f"{where}: unexpected {', '.join(extra)}")
    for name, check in fields.items():
        check(frame[name], f"{where}.{name}")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # A JSON integer too large for a float is not a usable number.
        return False


def _check(predicate, description: str):
    def check(item, where: str) -> None:
        if not predicate(item):
            raise FrameError(f"{where}: expected {description}, got {item!r}")

    return check


def _one_of(choices):
    return _check(lambda x: x in choices, "one of " + "/".join(choices))


_str = _check(lambda x: isinstance(x, str), "a string")
_nonempty_str = _check(lambda x: isinstance(x, str) and x != "", "a non-empty string")
_seq = _check(lambda x: _is_int(x) and x >= 0, "a non-negative integer")
_ms = _check(lambda x: _is_int(x) and x >= 0, "milliseconds (integer)")
_ms_or_null = _check(lambda x: x is None or _is_number(x), "milliseconds or null")
_number_or_null = _check(lambda x: x is None or _is_number(x), "a number or null")
_str_or_null = _check(lambda x: x is None or isinstance(x, str), "a string or null")


def validate_connection(item, where: str = "connection") -> None:
    """Check a Connection object."""
    if not isinstance(item, dict):
        raise FrameError(f"{where}: expected an object")
    if "poll_seconds" in item:  # optional, and only while polling
        if item.get("upstream") != "polling":
            raise FrameError(f"{where}.poll_seconds: only while upstream is polling")
        _check(lambda x: _is_number(x) and x > 0, "a positive number")(item["poll_seconds"], f"{where}.poll_seconds")
        item = {k: v for k, v in item.items() if k != "poll_seconds"}
    _require(
        item,
        where,
        {
            "upstream": _one_of(UPSTREAM_STATES),
            "service": _one_of(SERVICE_STATES),
            "bridge": _one_of(BRIDGE_STATES),
            "as_of": _ms,
        },
    )


def validate_value(item, where: str = "value") -> None:
    """Check a Value object, including the agent part of agent states."""
    if not isinstance(item, dict):
        raise FrameError(f"{where}: expected an object")
    fields = {
        "kind": _one_of(KINDS),
        "value": _number_or_null,
        "text": _str,
        "state": _one_of(VALUE_STATES),
        "timestamp": _check(lambda x: x is None or _is_int(x), "milliseconds or null"),
        "received": _ms,
    }
    if item.get("kind") == "agent_state":
        fields["agent"] = _validate_agent
    _require(item, where, fields)
    if item["kind"] == "unknown" and item["value"] is not None:
        raise FrameError(f"{where}: an unknown value must not carry a number")


def _validate_agent(item, where: str) -> None:
    if not isinstance(item, dict):
        raise FrameError(f"{where}: expected an object")
    _require(item, where, {"state": _nonempty_str, "reason": _str_or_null, "since": _ms_or_null})


def _validate_values(item, where: str) -> None:
    if not isinstance(item, dict):
        raise FrameError(f"{where}: expected an object of key → Value")
    for key, entry in item.items():
        if not isinstance(key, str) or not key:
            raise FrameError(f"{where}: keys must be statistic keys")
        validate_value(entry, f"{where}[{key}]")


def validate_alert(item, where: str = "alert") -> None:
    """Check an Alert object."""
    if not isinstance(item, dict):
        raise FrameError(f"{where}: expected an object")
    _require(item, where, {
        "id": _check(lambda x: _is_int(x) and x > 0, "a positive integer"),
        "rule": _nonempty_str,
        "severity": _one_of(ALERT_SEVERITIES),
        "state": _one_of(ALERT_STATES),
        "text": _str,
        "since": _ms,
    })


def _validate_alerts(item, where: str) -> None:
    if not isinstance(item, list):
        raise FrameError(f"{where}: expected a list of alerts")
    for index, entry in enumerate(item):
        validate_alert(entry, f"{where}[{index}]")


SERVER_FRAMES = {
    "snapshot": {
        "dashboard": _nonempty_str,
        "seq": _seq,
        "connection": validate_connection,
        "values": _validate_values,
    },
    "batch": {"dashboard": _nonempty_str, "seq": _seq, "values": _validate_values},
    "status": {"dashboard": _nonempty_str, "seq": _seq, "connection": validate_connection},
    "alerts": {"dashboard": _nonempty_str, "alerts": _validate_alerts},
    "error": {"code": _one_of(ERROR_CODES), "message": _str},
    "reload": {"reason": _str},
    "pong": {"t": _check(_is_number, "a number"), "server_time": _ms},
}

CLIENT_FRAMES = {
    "resync": {},
    "ping": {"t": _check(_is_number, "a number")},
    "telemetry": {
        "version": _check(lambda x: isinstance(x, str) and len(x) <= 40, "a string of at most 40 characters"),
        "memory": _check(lambda x: x is None or (_is_number(x) and x >= 0), "a non-negative number or null"),
        "latency": _check(lambda x: x is None or (_is_number(x) and x >= 0), "a non-negative number or null"),
    },
}


def _validate(frame, table: dict, side: str) -> dict:
    if not isinstance(frame, dict):
        raise FrameError(f"{side} frame must be a JSON object")
    kind = frame.get("type")
    if kind not in table:
        raise FrameError(f"unknown {side} frame type {kind!r}")
    _require(frame, kind, {"type": _str, **table[kind]})
    return frame


def validate_frame(frame) -> dict:
    """Check a server → browser frame; raise ``FrameError`` saying what is wrong."""
    return _validate(frame, SERVER_FRAMES, "server")


def validate_client_frame(frame) -> dict:
    """Check a browser → server frame; raise ``FrameError`` saying what is wrong."""
    return _validate(frame, CLIENT_FRAMES, "client")


def is_known_client_type(frame) -> bool:
    """Whether the frame names a client frame type we know (its fields may still be wrong)."""
    return isinstance(frame, dict) and frame.get("type") in CLIENT_FRAMES
