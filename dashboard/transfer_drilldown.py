"""Widget drill-downs on import: by slug, checked, linked after saving.

Each exported widget carries ``"drilldown": "<slug>"`` (or ``null``, written by
:func:`dashboard.transfer.export_dashboards`). On import, a slug must
name a dashboard in the same file or one already in the database, and not the widget's
own dashboard; the links are set once every dashboard of the file is saved, so a file can
carry a board and its drill-down together.
"""

from dashboard.models import Dashboard

FIELD = "drilldown"


def _widget_items(document: dict):
    """Yield (dashboard index, dashboard item, widget index, widget item) of a document."""
    for d_index, item in enumerate(document.get("dashboards") or []):
        if not isinstance(item, dict):
            continue
        for w_index, widget_item in enumerate(item.get("widgets") or []):
            if isinstance(widget_item, dict):
                yield d_index, item, w_index, widget_item


def drilldown_problems(document: dict) -> list[str]:
    """Every drill-down in the document that cannot be linked, located like the import's problems."""
    if not isinstance(document, dict):
        return []
    in_file = {
        item.get("slug")
        for item in document.get("dashboards") or []
        if isinstance(item, dict) and isinstance(item.get("slug"), str)
    }
    wanted = {w.get(FIELD) for _, _, _, w in _widget_items(document) if isinstance(w.get(FIELD), str)}
    known = in_file | set(Dashboard.objects.filter(slug__in=wanted - in_file).values_list("slug", flat=True))
    problems = []
    for d_index, item, w_index, widget_item in _widget_items(document):
        slug = widget_item.get(FIELD)
        where = f"dashboards[{d_index}].widgets[{w_index}].{FIELD}"
        if slug is None:
            continue
        if not isinstance(slug, str):
            problems.append(f"{where}: expected a dashboard slug or null")
        elif slug == item.get("slug"):
            problems.append(f"{where}: a widget cannot drill down to its own dashboard ({slug!r})")
        elif slug not in known:
            problems.append(f"{where}: no dashboard with slug {slug!r} in the file or the database")
    return problems


def link_drilldowns(document: dict, created: list[Dashboard]) -> None:
    """Set the drill-downs of freshly imported dashboards (their widgets saved in file order).

    Call inside the import's transaction, after every dashboard of the file is saved and
    ``drilldown_problems`` found nothing.
    """
    by_slug = {d.slug: d for d in created}
    for item in document["dashboards"]:
        targets = [w.get(FIELD) for w in item.get("widgets") or []]
        if not any(targets):
            continue
        widgets = list(by_slug[item["slug"]].widgets.order_by("pk"))
        for widget, slug in zip(widgets, targets, strict=True):
            if slug:
                widget.drilldown = by_slug.get(slug) or Dashboard.objects.get(slug=slug)
                widget.save(update_fields=[FIELD])
