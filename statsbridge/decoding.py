"""Stat Server value objects → wire Values, through one registry of decoders.

The Statistics API passes Stat Server's value through as an object whose shape depends
on the kind of statistic (a plain number, ``{"intValue", "stringValue", ...}`` from the
Stat Server protocol, a duration, a ratio, an agent's current state with its reason).
Each decoder recognises one family of shapes and returns a ``Decoded``; the first
decoder that recognises a value wins. A value nobody recognises becomes kind
``unknown`` (shown as unknown, never as 0), is logged once per statistic, and never
raises.
"""

import functools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from statsbridge import frames
from statsbridge.definitions import PERCENT_CATEGORIES, TIME_CATEGORIES
from statsbridge.formatting import kind_text

log = logging.getLogger(__name__)

NUMBER, DURATION, PERCENTAGE = "number", "duration", "percentage"

_TIME_NAME = re.compile(r"(Time|Duration|SpeedOfAnswer|Delay|Seconds)", re.IGNORECASE)
_PERCENT_NAME = re.compile(r"(Percent|ServiceLevel|ServiceFactor|Ratio|Rate|Pct|SL$)", re.IGNORECASE)


@dataclass(frozen=True)
class Hint:
    """What the statistic itself says about its values: which number kind to show."""

    key: str
    name: str = ""
    category: str = ""

    @functools.cached_property
    def numeric_kind(self) -> str:
        """Duration for time statistics, percentage for ratios, else number (worked out once per hint)."""
        if self.category in TIME_CATEGORIES:
            return DURATION
        if self.category in PERCENT_CATEGORIES:
            return PERCENTAGE
        if self.category:
            return NUMBER
        if _PERCENT_NAME.search(self.name):
            return PERCENTAGE
        if _TIME_NAME.search(self.name):
            return DURATION
        return NUMBER


def hint_for(key: str, name: str, definition: dict | None) -> Hint:
    """Return the decoding hint of a statistic from its name or custom definition."""
    category = (definition or {}).get("category") or ""
    return Hint(key=key, name=name or "", category=category if isinstance(category, str) else "")


class Decoded(NamedTuple):
    """What a decoder understood: a kind, a number (or None), and agent details.

    (A named tuple: one is made per value received, and a frozen dataclass costs several
    times as much to build.)"""

    kind: str
    value: float | None
    agent: dict | None = None


Decoder = Callable[[object, Hint], Decoded | None]
# (name, decoder, keys): ``keys`` are the object keys (lower case) of which a value
# must have at least one for the decoder to recognise it; None: it decodes non-objects.
DECODERS: list[tuple[str, Decoder, frozenset | None]] = []
_DECODERS_BY_SHAPE: dict = {}  # shape → decoders (see ``decoders_for_shape``)
MAX_SHAPES = 1024


def decoder(name: str, *, keys: tuple | None = None) -> Callable[[Decoder], Decoder]:
    """Register a decoder; decoders are tried in registration order.

    ``keys``: a decoder of objects names every key it recognises a value by (it must
    return None for an object with none of them), so that objects of a given shape
    are only offered to the decoders that can recognise them (see ``decoders_for_shape``).
    """

    def register(function: Decoder) -> Decoder:
        DECODERS.append((name, function, None if keys is None else frozenset(k.lower() for k in keys)))
        _DECODERS_BY_SHAPE.clear()
        return function

    return register


# ---------------------------------------------------------------- shape helpers


def _finite_number(value) -> float | None:
    """A real finite number (not a bool), else None (JSON integers too big for a float too)."""
    kind = type(value)
    if kind is float:  # the common cases first, without isinstance checks (per value received)
        return value if math.isfinite(value) else None
    if kind is int:
        try:
            return float(value)  # finite whenever it converts
        except OverflowError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# Milliseconds since the epoch beyond this (year 5138) are not timestamps.
MAX_TIMESTAMP_MS = 10**14


def _numeric_string(value) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class _Folded(dict):
    """A mapping with its keys in lower case (see ``_fold``)."""


def _fold(mapping: dict) -> _Folded:
    """``mapping`` with lower-case keys, built once per value: decoders look up a dozen names in it."""
    if type(mapping) is _Folded:
        return mapping
    return _Folded({str(k).lower(): v for k, v in mapping.items()})


@functools.lru_cache(maxsize=256)
def _lower(names: tuple) -> tuple:
    return tuple(name.lower() for name in names)


def _first(mapping: dict, *names: str):
    """The first present key of ``names`` (case-insensitive), or None."""
    return _pick(mapping, _lower(names))


def _pick(mapping: dict, lowered_names: tuple):
    """The first present key of ``lowered_names`` (given in lower case) in ``mapping``, or None.

    ``_first`` with the names lowered ahead of time: the decoders' own name lists are
    constants, so the per-value lookups skip packing and lowering them."""
    lowered = _fold(mapping)
    for name in lowered_names:
        if name in lowered:
            return lowered[name]
    return None


# ---------------------------------------------------------------- agent states

# Stat Server status and action names → the wire's agent states.
AGENT_STATES = {
    "loggedout": "LoggedOut",
    "logout": "LoggedOut",
    "loggedoff": "LoggedOut",
    "offline": "LoggedOut",
    "loggedin": "LoggedIn",
    "notready": "NotReady",
    "notreadyfornextcall": "NotReady",
    "notavailable": "NotReady",
    "away": "NotReady",
    "ready": "Ready",
    "waitfornextcall": "Ready",
    "available": "Ready",
    "idle": "Ready",
    "talking": "Talking",
    "busy": "Talking",
    "oncall": "Talking",
    "callinbound": "Talking",
    "calloutbound": "Talking",
    "callinternal": "Talking",
    "callconsult": "Talking",
    "callconference": "Talking",
    "callunknown": "Talking",
    "handlinginteraction": "Talking",
    "aftercallwork": "AfterCallWork",
    "acw": "AfterCallWork",
    "wrapup": "AfterCallWork",
    "dialing": "Dialing",
    "calldialing": "Dialing",
    "ringing": "Ringing",
    "callringing": "Ringing",
    "onhold": "OnHold",
    "callonhold": "OnHold",
}


# Stat Server's numeric DN/agent status codes (the ``Status`` of its AgentStatus,
# PlaceStatus and DNStatus structures). A code not listed is not guessed at.
STATUS_CODES = {
    2: "LoggedIn",
    4: "Ready",  # WaitForNextCall
    6: "Dialing",  # CallDialing
    7: "Ringing",  # CallRinging
    8: "NotReady",  # NotReadyForNextCall
    9: "AfterCallWork",
    13: "OnHold",  # CallOnHold
    18: "Talking",  # CallUnknown
    19: "Talking",  # CallConsult
    20: "Talking",  # CallInternal
    21: "Talking",  # CallOutbound
    22: "Talking",  # CallInbound
    23: "LoggedOut",
}


def agent_state_name(raw) -> str | None:
    """Canonical wire name of a Stat Server status (name or code); None for an unknown code."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return STATUS_CODES.get(raw)
    if isinstance(raw, str) and raw.strip():
        text = raw.strip()
        if text.isdigit():
            return STATUS_CODES.get(int(text))
        return AGENT_STATES.get(re.sub(r"[\s_-]", "", text).lower(), text)
    return None


_REASON_NAMES = _lower(("name", "reason", "code", "value", "description"))


def _reason(raw) -> str | None:
    """A reason from a string, ``{"name"|"code"|"reason": ...}``, or a one-pair KV list."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, dict):
        named = _pick(raw, _REASON_NAMES)
        if named is not None:
            return _reason(named)
        if len(raw) == 1:
            key, value = next(iter(raw.items()))
            return f"{key}: {value}" if value not in (None, "") else str(key)
    if isinstance(raw, list) and raw:
        return _reason(raw[0])
    return None


def _since(raw) -> float | None:
    number = _finite_number(raw)
    if number is None or not 0 <= number < MAX_TIMESTAMP_MS:
        return None
    # Seconds since epoch are ten digits; the wire carries milliseconds.
    return number * 1000 if number < 1e11 else number


_NESTED_STATE = ("AgentStatus", "agentState", "PlaceStatus", "DNStatus")
_STATE = ("state", "status", "agentStatus", "currentState")
# The names the agent-state decoder looks up, lowered once (see ``_pick``).
_NESTED_STATE_LOWER, _STATE_LOWER = _lower(_NESTED_STATE), _lower(_STATE)
_REASON_FIELDS = _lower(("reason", "reasonCode", "reasons", "ReasonCode", "Reasons"))
_SINCE_FIELDS = _lower(("since", "startTime", "stateStartTime", "time", "timestamp"))
_DURATION_FIELDS = _lower(("duration", "timeInState"))


@decoder("agent_state", keys=_NESTED_STATE + _STATE)
def decode_agent_state(raw, hint: Hint) -> Decoded | None:
    """``{"state"|"status": name or Stat Server code, "reasons"|"reason": ..., "time"|"since": ...}``.

    Also the same structure nested under ``AgentStatus``/``PlaceStatus``/``DNStatus``.
    The Stat Server reason list ``[{"key": "ReasonCode", "value": "Break"}]`` gives
    the reason ``Break``.
    """
    if not isinstance(raw, dict):
        return None
    nested = _pick(raw, _NESTED_STATE_LOWER)
    if isinstance(nested, dict):
        return decode_agent_state(_fold(nested), hint)
    state = agent_state_name(_pick(raw, _STATE_LOWER))
    if state is None:
        return None
    reason = _reason(_pick(raw, _REASON_FIELDS))
    since = _since(_pick(raw, _SINCE_FIELDS))
    duration = _finite_number(_pick(raw, _DURATION_FIELDS))
    return Decoded(
        kind="agent_state",
        value=duration,
        agent={"state": state, "reason": reason, "since": since},
    )


# ---------------------------------------------------------------- numbers


@decoder("plain_number")
def decode_plain_number(raw, hint: Hint) -> Decoded | None:
    """A bare JSON number, shown as the statistic's numeric kind."""
    number = _finite_number(raw)
    if number is None:
        return None
    return Decoded(kind=hint.numeric_kind, value=number)


_SECONDS = ("seconds", "duration", "durationSeconds")
_MILLISECONDS = ("milliseconds", "ms", "durationMs")


@decoder("explicit_duration", keys=_SECONDS + _MILLISECONDS)
def decode_explicit_duration(raw, hint: Hint) -> Decoded | None:
    """``{"seconds": n}``, ``{"duration": n}`` or ``{"milliseconds": n}``."""
    if not isinstance(raw, dict):
        return None
    seconds = _finite_number(_first(raw, *_SECONDS))
    if seconds is None:
        millis = _finite_number(_first(raw, *_MILLISECONDS))
        seconds = millis / 1000 if millis is not None else None
    if seconds is None:
        return None
    return Decoded(kind=DURATION, value=seconds)


_PERCENT = ("percentage", "percent", "serviceLevel")
_RATIO = ("ratio", "fraction")


@decoder("explicit_percentage", keys=_PERCENT + _RATIO)
def decode_explicit_percentage(raw, hint: Hint) -> Decoded | None:
    """``{"percentage"|"percent": p}`` (share of 100) or ``{"ratio": r}`` (share of 1)."""
    if not isinstance(raw, dict):
        return None
    percent = _finite_number(_first(raw, *_PERCENT))
    if percent is None:
        ratio = _finite_number(_first(raw, *_RATIO))
        percent = ratio * 100 if ratio is not None else None
    if percent is None:
        return None
    return Decoded(kind=PERCENTAGE, value=percent)


_STAT_SERVER_FIELDS = _lower(("floatValue", "doubleValue", "intValue", "longValue", "value", "number", "count"))


@decoder("stat_server_value", keys=(*_STAT_SERVER_FIELDS, "stringValue"))
def decode_stat_server_value(raw, hint: Hint) -> Decoded | None:
    """The Stat Server protocol's value: ``{"intValue"|"floatValue"|"value"|"number": n, ...}``.

    ``stringValue`` alone is accepted when it holds a number. ``tag`` and
    ``intervalLength`` ride along and are ignored.
    """
    if not isinstance(raw, dict):
        return None
    lowered = _fold(raw)
    for field in _STAT_SERVER_FIELDS:
        found = lowered.get(field)
        if found is None:  # (most values carry one of these fields: skip the others cheaply)
            continue
        number = _finite_number(found)
        if number is not None:
            return Decoded(kind=hint.numeric_kind, value=number)
    number = _numeric_string(lowered.get("stringvalue"))
    if number is not None:
        return Decoded(kind=hint.numeric_kind, value=number)
    return None


@decoder("numeric_string")
def decode_numeric_string(raw, hint: Hint) -> Decoded | None:
    """A number sent as text (``"12"``)."""
    number = _numeric_string(raw)
    if number is None:
        return None
    return Decoded(kind=hint.numeric_kind, value=number)


# ---------------------------------------------------------------- entry point


def decoders_for_shape(shape: frozenset | None) -> tuple:
    """The decoders that can recognise a value of ``shape`` (its lower-case keys; None: not an object), in order.

    Remembered per shape (statistics of one shape share them) until a decoder is registered.
    """
    found = _DECODERS_BY_SHAPE.get(shape)
    if found is None:
        found = tuple((name, function) for name, function, keys in DECODERS
                      if (keys is None if shape is None else keys is not None and keys & shape))
        if len(_DECODERS_BY_SHAPE) < MAX_SHAPES:  # Shapes come from upstream: keep the memory bounded.
            _DECODERS_BY_SHAPE[shape] = found
    return found


class Decoding:
    """Decodes values for the bridge; remembers which statistics it already warned about.

    Per statistic it keeps the decoders chosen for the shape of its last value, so a
    statistic whose values keep their shape (nearly all) skips the decoders that
    cannot recognise it and the choosing too.
    """

    def __init__(self):
        self._warned: set[str] = set()
        self._decoders_by_key: dict[str, tuple] = {}  # statistic key → plan (see ``_plan``), shared per shape
        self._plans: dict = {}  # raw keys → plan; shapes are few (a dozen value forms)

    def decode(self, raw, hint: Hint, *, timestamp, received: int, state: str = "fresh") -> dict:
        """Return the wire Value of ``raw``; unknown shapes become kind ``unknown``."""
        ts = _finite_number(timestamp)
        stamp = int(ts) if ts is not None and 0 <= ts < MAX_TIMESTAMP_MS else None
        known = self._decoders_by_key.get(hint.key)
        if known is not None and known[3] is not None and type(raw) is dict and known[0] == raw.keys():
            # The statistic's values are Stat Server values with one number field (nearly every
            # counter): what decode_stat_server_value would return, without the decoder chain.
            number = _finite_number(raw[known[3]])
            if number is not None:
                return _to_value(Decoded(hint.numeric_kind, number), stamp, received, state)
        shaped, decoders = self._plan(raw, hint.key)
        for name, function in decoders:
            try:
                decoded = function(shaped, hint)
            except Exception:  # A decoder bug must not take the bridge down.
                log.exception("decoder %s failed on statistic %s", name, hint.key)
                decoded = None
            if decoded is not None:
                return _to_value(decoded, stamp, received, state)
        if hint.key not in self._warned:
            self._warned.add(hint.key)
            log.warning(
                "statistic %s (%s): value shape not understood, shown as unknown: %s",
                hint.key,
                hint.name or hint.category or "custom",
                _shape_of(raw),
            )
        return frames.value(kind="unknown", value=None, text="?", state=state, timestamp=stamp, received=received)

    def _plan(self, raw, key: str) -> tuple:
        """``raw`` as the decoders take it (an object with its keys folded) and the decoders for its shape.

        Per statistic it keeps ``(raw keys, all lower case, decoders, number field)`` of its
        last value: a value with the same keys (nearly always) reuses them, one whose keys
        are lower case already is copied rather than folded key by key, and ``number field``
        (see ``_single_number_field``) lets ``decode`` skip the decoders altogether.
        """
        known = self._decoders_by_key.get(key)
        if type(raw) is dict:
            if known is not None and known[0] == raw.keys():  # (a frozenset equals the keys view of the same keys)
                return (_Folded(raw) if known[1] else _fold(raw)), known[2]
            shaped = _fold(raw)
            raw_keys = frozenset(raw)
            # One plan per distinct shape, shared by every statistic of that shape: a
            # frozenset per statistic cost 200-700 bytes each at 100,000 statistics.
            plan = self._plans.get(raw_keys)
            if plan is None:
                lower = raw_keys == shaped.keys()
                decoders = decoders_for_shape(frozenset(shaped))
                plan = self._plans[raw_keys] = (raw_keys, lower, decoders,
                                                _single_number_field(raw_keys, lower, decoders))
            self._decoders_by_key[key] = plan
            return shaped, plan[2]
        if isinstance(raw, dict):  # a dict subclass (not from JSON): folded and planned each time
            shaped = _fold(raw)
            return shaped, decoders_for_shape(frozenset(shaped))
        if known is None or known[0] is not None:
            plan = self._plans.get(None)
            if plan is None:
                plan = self._plans[None] = (None, False, decoders_for_shape(None), None)
            known = self._decoders_by_key[key] = plan
        return raw, known[2]

    def forget(self, keys) -> None:
        """Drop the decoders chosen for statistics not in ``keys`` (no longer wanted)."""
        keep = set(keys)
        self._decoders_by_key = {k: v for k, v in self._decoders_by_key.items() if k in keep}


def _single_number_field(keys: frozenset, lower: bool, decoders: tuple) -> str | None:
    """The one key of an object of ``keys`` that the Stat Server decoder reads a number from, when that
    decoder is the only one for the shape and the keys are lower case; else None.

    Then a value of these keys decodes to that field's number whenever it is a finite
    number: the decoder tries its number fields in order and only this one is there.
    """
    if not lower or len(decoders) != 1 or decoders[0][1] is not decode_stat_server_value:
        return None
    fields = [key for key in keys if key in _STAT_SERVER_FIELDS]
    return fields[0] if len(fields) == 1 else None


def _to_value(decoded: Decoded, stamp: int | None, received: int, state: str) -> dict:
    if decoded.kind == "agent_state":
        text = decoded.agent["state"]
        if decoded.agent.get("reason"):
            text = f"{text} ({decoded.agent['reason']})"
        return frames.value(
            kind="agent_state",
            value=decoded.value,
            text=text,
            state=state,
            timestamp=stamp,
            received=received,
            agent=decoded.agent,
        )
    text = kind_text(decoded.kind, decoded.value)  # one rule set (statsbridge.formatting)
    return frames.value(
        kind=decoded.kind, value=decoded.value, text=text, state=state, timestamp=stamp, received=received
    )


def _shape_of(raw, depth: int = 0) -> str:
    """A short description of a value's structure (types and keys, no contents)."""
    if isinstance(raw, dict):
        if depth > 1:
            return "{...}"
        inner = ", ".join(f"{k}: {_shape_of(v, depth + 1)}" for k, v in list(raw.items())[:8])
        return "{" + inner + "}"
    if isinstance(raw, list):
        return f"list[{len(raw)}]"
    return type(raw).__name__
