"""The one set of display rules for statistic values; ``static/dashboard/formatting.js`` mirrors it.

The bridge words every value it publishes with these rules (the wire Value's ``text``,
what an ``auto`` widget shows) and the dashboard words a value under a widget's chosen
format with the same rules, so a number reads the same on every widget, chart and page.
tests/dashboard/test_formatting.py runs one table of cases through this module and
through the page script in node and asserts identical strings.

The rules, and why:

- **Numbers**: thousands grouped with ",", at most two decimals, trailing zeros dropped
  ("1,234.56", "12", "0.5"). Rounded half away from zero on the number's shortest
  decimal form, which is what people read (1.005 → "1.01"; JavaScript's
  ``Intl.NumberFormat`` rounds the same way). A rounded zero has no sign ("0", not "-0").
- **Durations** (seconds): truncated to whole seconds, shown as m:ss, or h:mm:ss from an
  hour up ("0:02" for 2.5 s, "0:59" for 59.5 s, "59:59" for 3599.5 s). A wait clock
  counts elapsed whole seconds, like a stopwatch and like Genesys Pulse: a caller who
  has waited 59.5 s has not waited a minute, and a service-level line at 60 s must not
  look crossed while it is not. Negative durations keep their sign ("-0:05"); one that
  truncates to zero shows "0:00".
- **Percentages** (a share of 100): at most one decimal, rounded as numbers are, with
  "%" ("87.3%", "100%"). 99.95 shows "100%": a rounding to one decimal, as a report shows.
- **Agent states**: the label of the state in the table the dashboard hands in (the
  same table the page script gets in its config), else the state name as it came; an
  agent value without a state shows "?".
- Anything without a number (unknown, missing, not finite) shows "?", never 0.
"""

import functools
import math
from decimal import ROUND_HALF_UP, Decimal, localcontext

UNKNOWN_TEXT = "?"
UNKNOWN_STATE_LABEL = "Unknown"

# Wire kinds (statsbridge.decoding) → the widget format that words them on ``auto``.
KIND_FORMAT = {"duration": "duration", "percentage": "percent", "number": "number"}
NUMBER_PLACES = 2
PERCENT_PLACES = 1
# A float's shortest decimal form has at most 17 digits and an exponent up to 308:
# enough precision to round any of them without an InvalidOperation.
_PRECISION = 400


def numeric(value: dict | None) -> float | None:
    """Return the finite number a wire value carries, or None (unknown, agent state, missing)."""
    if not value or value.get("kind") in (None, "unknown", "agent_state"):
        return None
    number = value.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float):
        return None
    try:
        number = float(number)
    except OverflowError:  # a JSON integer too big for a float
        return None
    return number if math.isfinite(number) else None


def decimal_text(number: float, places: int) -> str:
    """``number`` grouped by thousands with at most ``places`` decimals (formatting.js ``decimalText``)."""
    if -1e15 < number < 1e15 and number == int(number):  # a whole number (most counts): no rounding to do
        return f"{int(number):,}"
    with localcontext() as context:
        context.prec = _PRECISION
        rounded = Decimal(repr(float(number))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def duration_text(seconds: float) -> str:
    """Seconds truncated to whole seconds, as m:ss or h:mm:ss (formatting.js ``durationText``)."""
    total = int(abs(seconds))
    sign = "-" if seconds < 0 and total else ""
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"


def format_number(number: float, fmt: str) -> str:
    """Word a number under a widget format: "duration", "percent", else a plain number."""
    if fmt == "duration":
        return duration_text(number)
    if fmt == "percent":
        return f"{decimal_text(number, PERCENT_PLACES)}%"
    return decimal_text(number, NUMBER_PLACES)


@functools.lru_cache(maxsize=8192)
def kind_text(kind: str, number: float) -> str:
    """Word a number of a wire kind ("number", "duration", "percentage") as ``auto`` shows it.

    Remembered for the most recent numbers: the bridge words every value it receives, and
    statistics keep showing the same few numbers (equal numbers word the same: 1 and 1.0,
    0.0 and -0.0)."""
    return format_number(number, KIND_FORMAT.get(kind, "number"))


def state_label(state: str | None, agent_states: dict | None = None) -> str:
    """What people read for an agent state, from ``agent_states`` (formatting.js ``stateLabel``)."""
    if not state:
        return UNKNOWN_STATE_LABEL
    return ((agent_states or {}).get(state) or {}).get("label") or state


def display_text(value: dict | None, fmt: str = "auto", agent_states: dict | None = None) -> str:
    """Return what a tile shows for a wire value under a widget's format (formatting.js ``displayText``)."""
    if not value or value.get("kind") == "unknown":
        return UNKNOWN_TEXT
    if value.get("kind") == "agent_state":
        state = (value.get("agent") or {}).get("state")
        return state_label(state, agent_states) if state else UNKNOWN_TEXT
    number = numeric(value)
    if number is None:
        return UNKNOWN_TEXT
    if fmt == "auto":
        if value.get("text"):
            return str(value["text"])
        fmt = KIND_FORMAT.get(value.get("kind"), "number")
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
