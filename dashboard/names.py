"""The names people read instead of the tenant's ids: pure, no database.

- **Agent states**: one label, colour and icon per canonical state name (the names
  ``statsbridge.decoding`` gives), used by every board and chart. dashboard.js gets the
  same table in its config (``agentStates``) and never words a state itself.
- **Display names** (aliases): ``Names`` maps ``(object_type, object_id)`` to what people
  call a queue, agent group or agent ("VQ_Sales@SIP_Switch" → "Sales"), and
  ``(STATISTIC, name)`` to what they call a statistic ("CallsWaiting" → "Waiting").
  Where no alias exists the id (or the statistic name) is shown as it is.
- **CSV import**: ``parse_display_names`` checks a whole file and reports every bad row
  with its line number; the caller saves nothing unless the file is clean.
"""

import csv
import io
import unicodedata
from dataclasses import dataclass

from statsbridge import formatting

# The DisplayName object type under which a statistic *name* gets its display name.
STATISTIC = "Statistic"

AGENT_STATES = {
    # Colours from the Okabe-Ito palette; labels as the floor says them.
    "Ready": {"label": "Ready", "color": "#009E73", "icon": "✔"},
    "Talking": {"label": "Talking", "color": "#0072B2", "icon": "☎"},
    "AfterCallWork": {"label": "After-call work", "color": "#CC79A7", "icon": "✎"},
    "NotReady": {"label": "Not ready", "color": "#D55E00", "icon": "☕"},
    "LoggedOut": {"label": "Logged out", "color": "#56657a", "icon": "○"},
}
UNKNOWN_AGENT_STATE = {"label": formatting.UNKNOWN_STATE_LABEL, "color": "#999999", "icon": "?"}

CSV_COLUMNS = ("object_type", "object_id", "display_name")
MAX_ID_LENGTH = 255
MAX_NAME_LENGTH = 200
MAX_CSV_ROWS = 20_000
MAX_CSV_BYTES = 2_000_000


def agent_state_label(state: str | None) -> str:
    """What people read for an agent state ("AfterCallWork" → "After-call work"); an
    unlisted state as it came, a missing one as "Unknown" (the one rule: ``formatting.state_label``)."""
    return formatting.state_label(state, AGENT_STATES)


def lower_first(text: str) -> str:
    """Lower-case the first letter of a name used mid-sentence ("Waiting" → "waiting"), but
    not of an acronym or an id ("SLA", "ServiceLevel" stay): only when no other capital follows."""
    if len(text) > 1 and text[0].isupper() and not any(c.isupper() for c in text[1:]):
        return text[0].lower() + text[1:]
    return text


class Names:
    """Display names by ``(object_type, object_id)``; the id where none is set."""

    def __init__(self, aliases: dict[tuple[str, str], str] | None = None):
        self.aliases = dict(aliases or {})

    def object_name(self, object_type: str, object_id: str) -> str:
        """A queue's, group's or agent's display name, else its id."""
        return self.aliases.get((object_type, object_id)) or object_id

    def statistic_name(self, name: str) -> str:
        """A statistic name's display name, else the name itself ("custom" for a definition)."""
        if not name:
            return "custom"
        return self.aliases.get((STATISTIC, name)) or name

    def label(self, explicit: str, object_type: str, object_id: str, name: str) -> str:
        """A statistic's label: the one set on it, else "<object> <statistic>" from display names
        ("Sales waiting"), so an alias changes every label that has none of its own."""
        if explicit:
            return explicit
        return f"{self.object_name(object_type, object_id)} {lower_first(self.statistic_name(name))}"


@dataclass(frozen=True)
class NameRow:
    """One display name to save."""

    object_type: str
    object_id: str
    display_name: str


def row_problems(object_type: str, object_id: str, display_name: str, object_types) -> list[str]:
    """What is wrong with one display name (empty when nothing): shared by the admin form and the CSV import."""
    problems = []
    known = (*object_types, STATISTIC)
    if object_type not in known:
        problems.append(f"unknown object type {object_type!r} (use one of {', '.join(known)})")
    if not object_id:
        problems.append("the object id is empty" if object_type != STATISTIC else "the statistic name is empty")
    elif len(object_id) > MAX_ID_LENGTH:
        problems.append(f"the object id is longer than {MAX_ID_LENGTH} characters")
    if not display_name:
        problems.append("the display name is empty")
    elif len(display_name) > MAX_NAME_LENGTH:
        problems.append(f"the display name is longer than {MAX_NAME_LENGTH} characters")
    elif any(unicodedata.category(c).startswith("C") for c in display_name):
        problems.append("the display name contains control characters")
    return problems


class CsvProblems(ValueError):
    """A display-name file was refused; ``problems`` lists each bad row by line number."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def decode_csv(data: bytes) -> str:
    """The text of an uploaded CSV file, or ``CsvProblems`` when it is too big or not UTF-8."""
    if len(data) > MAX_CSV_BYTES:
        raise CsvProblems([f"the file is larger than {MAX_CSV_BYTES // 1_000_000} MB; split it"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvProblems([f"the file is not UTF-8 text (byte {error.start}); save it as CSV UTF-8"]) from None


def parse_display_names(text: str, object_types) -> list[NameRow]:
    """Parse a CSV of ``object_type,object_id,display_name`` (a header line first).

    Returns every row, or raises ``CsvProblems`` listing each bad line ("line 7: unknown
    object type 'Queu' ..."). Blank lines are skipped; cells are trimmed; an id listed
    twice is refused (which of the two names was meant?).
    """
    text = text.removeprefix("\ufeff")  # Excel's UTF-8 byte-order mark
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise CsvProblems([f"line 1: not CSV ({error})"]) from None
    if header is None or [h.strip().lower() for h in header] != list(CSV_COLUMNS):
        raise CsvProblems([f"line 1: the first line must be the header {','.join(CSV_COLUMNS)}"])
    rows: list[NameRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(rows) + len(problems) >= MAX_CSV_ROWS:
                problems.append(f"line {line}: more than {MAX_CSV_ROWS} rows; split the file")
                break
            if len(cells) != len(CSV_COLUMNS):
                problems.append(f"line {line}: {len(cells)} cells, expected {len(CSV_COLUMNS)} ({','.join(CSV_COLUMNS)})")
                continue
            object_type, object_id, display_name = (c.strip() for c in cells)
            found = row_problems(object_type, object_id, display_name, object_types)
            if (object_type, object_id) in seen:
                found.append(f"{object_type} {object_id} is already named on line {seen[(object_type, object_id)]}")
            if found:
                problems.append(f"line {line}: " + "; ".join(found))
                continue
            seen[(object_type, object_id)] = line
            rows.append(NameRow(object_type, object_id, display_name))
    except csv.Error as error:
        problems.append(f"line {reader.line_num}: not CSV ({error})")
    if problems:
        raise CsvProblems(problems)
    return rows
