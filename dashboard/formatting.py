"""Display text of wire values and time-profile labels: pure, mirrored in dashboard.js."""

import math
from decimal import ROUND_HALF_UP, Decimal

from dashboard.names import agent_state_label

UNKNOWN_TEXT = "?"


def numeric(value: dict | None) -> float | None:
    """Return the number a wire value carries, or None (unknown, agent state, missing)."""
    if not value or value.get("kind") in (None, "unknown", "agent_state"):
        return None
    number = value.get("value")
    return float(number) if isinstance(number, int | float) and not isinstance(number, bool) else None


def format_number(number: float, fmt: str) -> str:
    """Format a number as a plain number, a duration (seconds) or a percentage."""
    if fmt == "duration":
        total = math.floor(number + 0.5)  # as JavaScript's Math.round
        sign = "-" if total < 0 else ""
        hours, rest = divmod(abs(total), 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{sign}{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{sign}{minutes}:{seconds:02d}"
    if fmt == "percent":
        return f"{_one_decimal(number)}%"
    if float(number).is_integer():
        return str(int(number))
    return _one_decimal(number)


def _one_decimal(number: float) -> str:
    """One decimal, ties away from zero on the exact binary value (as JavaScript's toFixed)."""
    return str(Decimal(number).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


_KIND_FORMAT = {"duration": "duration", "percentage": "percent", "number": "number"}


def display_text(value: dict | None, fmt: str = "auto") -> str:
    """Return what a tile shows for a wire value under a widget's format."""
    if not value or value.get("kind") == "unknown":
        return UNKNOWN_TEXT
    if value.get("kind") == "agent_state":
        state = (value.get("agent") or {}).get("state")
        return agent_state_label(state) if state else UNKNOWN_TEXT
    number = numeric(value)
    if number is None:
        return UNKNOWN_TEXT
    if fmt == "auto":
        if value.get("text"):
            return str(value["text"])
        fmt = _KIND_FORMAT.get(value.get("kind"), "number")
    return format_number(number, fmt)


def interval_label(definition: dict | None) -> str:
    """Describe the time profile of a custom definition ("since 00:00", "sliding 30 min")."""
    if not definition:
        return ""
    kind = str(definition.get("intervalType", "")).lower()
    if kind == "growingwindow":
        return f"since {definition.get('dynamicTimeProfile') or '00:00'}"
    if kind == "slidingwindow":
        length = definition.get("intervalLength")
        if isinstance(length, int | float) and length > 0:
            minutes = length / 60
            return f"sliding {int(minutes)} min" if float(minutes).is_integer() else f"sliding {int(length)} s"
        return "sliding window"
    if kind == "selectionbased":
        return "current selection"
    category = str(definition.get("category", ""))
    return "now" if category.startswith("Current") else ""
