"""The checks a dashboard passes before it is saved, by the editor and by the admin alike.

Widgets must fit the grid and not overlap; a statistic not yet subscribed is checked
against the upstream (``statsbridge.probe``), and its refusal is reported with the
upstream's own message.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from statsbridge.models import Statistic, statistic_key
from statsbridge.probe import KNOWN, REFUSED, UNCHECKED, Verdict, check_statistics

__all__ = ["KNOWN", "REFUSED", "UNCHECKED", "Box", "Verdict", "layout_problems", "new_statistic_verdicts"]


@dataclass(frozen=True)
class Box:
    """A widget's place on the grid, named as people see it in messages."""

    label: str
    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: "Box") -> bool:
        """True when the two boxes share at least one grid cell."""
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)


def layout_problems(boxes: Sequence[Box], columns: int) -> list[str]:
    """What is wrong with a layout: boxes outside the grid, empty boxes, overlapping boxes."""
    problems = []
    for box in boxes:
        if box.w < 1 or box.h < 1:
            problems.append(f"“{box.label}” must be at least one cell wide and high.")
        elif box.x < 0 or box.y < 0 or box.x + box.w > columns:
            problems.append(f"“{box.label}” does not fit the grid of {columns} columns.")
    for index, box in enumerate(boxes):
        problems.extend(f"“{box.label}” overlaps “{other.label}”: move one of them."
                        for other in boxes[index + 1:] if box.overlaps(other))
    return problems


def new_statistic_verdicts(items: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], Verdict]:
    """The upstream's verdict on each named statistic that does not exist yet here.

    Statistics already stored were checked when they were added (and the bridge reports
    any later refusal), so only new ones are asked about.
    """
    items = list(dict.fromkeys(tuple(i) for i in items))
    keys = {statistic_key(t, i, n, None): (t, i, n) for t, i, n in items}
    stored = set(Statistic.objects.filter(key__in=keys).values_list("key", flat=True))
    verdicts = {item: Verdict(*item, KNOWN) for key, item in keys.items() if key in stored}
    fresh = [item for key, item in keys.items() if key not in stored]
    verdicts.update({(v.object_type, v.object_id, v.name): v for v in check_statistics(fresh)})
    return verdicts
