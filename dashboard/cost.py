"""Cost preview of a widget's statistics: what saving it would add upstream (pure)."""


def cost_preview(selected: list[dict], subscribed_keys: set[str]) -> dict:
    """Describe what subscribing ``selected`` adds, given the keys already subscribed.

    ``selected`` items carry ``key``, ``object_type``, ``object_id``, ``name`` and
    ``label``. A statistic subscribed for another widget is reused, not added.
    """
    unique = list({s["key"]: s for s in selected}.values())
    new = [s for s in unique if s["key"] not in subscribed_keys]
    reused = [s for s in unique if s["key"] in subscribed_keys]
    names = sorted({s["name"] or "custom definition" for s in new})
    objects = sorted({(s["object_type"], s["object_id"]) for s in new})
    if new:
        summary = (
            f"Adds {len(new)} upstream statistic{'s' if len(new) != 1 else ''} "
            f"({len(names)} statistic{'s' if len(names) != 1 else ''} × {len(objects)} object{'s' if len(objects) != 1 else ''})"
        )
    else:
        summary = "Adds no upstream statistic"
    summary += f"; reuses {len(reused)} already subscribed." if reused else "."
    return {
        "adds": len(new),
        "statistic_names": names,
        "objects": [f"{t} {i}" for t, i in objects],
        "new": [s["label"] for s in new],
        "reused": [s["label"] for s in reused],
        "summary": summary,
    }
