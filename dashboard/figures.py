"""Server-side rendering of widgets: pure functions of a widget spec and values.

``render(spec, values, history, time_zone)`` gives what the page shows before its
socket connects: a Plotly figure dict (KPI sparkline, gauge, bar, line, donut) and the
per-statistic tiles every widget exposes for machines and assistive tech. The agent grid
and the queue table are HTML grids of tiles (each cell ticks and carries its own state);
dashboard.js keeps all of them live with the same rules.
"""

import datetime as dt
import zoneinfo

from dashboard import names, thresholds
from statsbridge import frames
from statsbridge.formatting import display_text, interval_label, numeric

# Label, colour and icon per agent state: one table for every board (dashboard/names.py).
AGENT_STATES = names.AGENT_STATES
UNKNOWN_AGENT_STATE = names.UNKNOWN_AGENT_STATE
SERIES_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
TEXT_COLOR = "#e8edf3"
# More tiles than this are only for assistive tech (_widget.html hides them from sight).
MAX_SHOWN_TILES = 8
# Points per line or sparkline (dashboard.js keeps the same): one per slot of the window.
MAX_SERIES_POINTS = 300


def widget_spec(widget, statistics, display_names: names.Names | None = None, limits: list | None = None) -> dict:
    """Return the JSON-able description of a widget that the page and the JS share.

    ``statistics`` are the widget's Statistic rows in display order; ``display_names``
    what people call their objects and names; ``limits`` each statistic's thresholds
    (``WidgetStatistic.limits``), by default the widget's.
    """
    display_names = display_names or names.Names()
    widget_limits = {"warning": widget.warning, "critical": widget.critical, "direction": widget.direction,
                     "hysteresis": widget.hysteresis}
    limits = limits or [widget_limits] * len(statistics)
    intervals = {interval_label(s.definition) for s in statistics} - {""}
    return {
        "id": widget.pk,
        "type": widget.type,
        "label": widget.label,
        "unit": widget.unit,
        "format": widget.format,
        "warning": widget.warning,
        "critical": widget.critical,
        "direction": widget.direction,
        "hysteresis": widget.hysteresis,
        "history_minutes": widget.history_minutes,
        "interval": widget.interval or (intervals.pop() if len(intervals) == 1 else ""),
        "x": widget.x,
        "y": widget.y,
        "w": widget.w,
        "h": widget.h,
        "statistics": [
            {
                "key": s.key,
                "label": display_names.label(s.label, s.object_type, s.object_id, s.name),
                "object_type": s.object_type,
                "object_id": s.object_id,
                "object_name": display_names.object_name(s.object_type, s.object_id),
                "name": s.name,
                "statistic_name": display_names.statistic_name(s.name) if s.name else (s.label or "custom"),
                "thresholds": own,
            }
            for s, own in zip(statistics, limits, strict=True)
        ],
    }


def tile(spec: dict, stat: dict, value: dict | None, previous_level: str = thresholds.NONE) -> dict:
    """Return one statistic's tile: text, state, threshold level and its cues."""
    number = numeric(value)
    state = (value or {}).get("state") or "unknown"
    if value is None or value.get("kind") == "unknown":
        state = "unknown"
    limits = stat.get("thresholds") or spec  # a statistic's own thresholds (a table's column), else the widget's
    level = thresholds.level(
        number, limits["warning"], limits["critical"], limits["direction"], limits["hysteresis"], previous_level
    )
    text = display_text(value, spec["format"], names.AGENT_STATES)
    cue = thresholds.cue(level, limits["direction"])
    as_of = (value or {}).get("timestamp") or (value or {}).get("received")
    drilldown = spec.get("drilldown")
    # A drill-down tile is a link: its name says where it goes (dashboard.js words it alike).
    opens = f" (opens {drilldown['title']})" if drilldown else ""
    described = f"{stat['label']}{opens}: {text}{(' ' + spec['unit']) if spec['unit'] and number is not None else ''}"
    if cue["text"]:
        described += f", {cue['text']}"
    described += ", stale" if state == "stale" else (", no data" if state == "unknown" else "")
    result = {
        "key": stat["key"],
        "label": stat["label"],
        "text": text,
        "value": "" if number is None else number,
        "state": state,
        "level": level,
        "cue": cue,
        "color": thresholds.PALETTE[level],
        "as_of": as_of,
        "aria": described,
    }
    if value and value.get("kind") == "agent_state":
        agent = value.get("agent") or {}
        style = AGENT_STATES.get(agent.get("state"), UNKNOWN_AGENT_STATE)
        result["agent"] = {
            "state": agent.get("state") or "Unknown",
            "label": names.agent_state_label(agent.get("state")),
            "reason": agent.get("reason") or "",
            "since": agent.get("since"),
            "color": style["color"],
            "icon": style["icon"],
        }
    return result


def _layout(**extra) -> dict:
    layout = {
        "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": TEXT_COLOR, "size": 14},
        "autosize": True,
        "showlegend": False,
    }
    layout.update(extra)
    return layout


def local_ms(ms: int, time_zone: str) -> int:
    """The wall-clock time of epoch-ms ``ms`` in a time zone, as epoch-ms of that reading in UTC.

    Plotly date axes show numbers as UTC times; numbers, unlike date strings, are not
    re-parsed on every redraw of a live chart (``localMs`` in static/dashboard/figures.js mirrors this).
    """
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=zoneinfo.ZoneInfo(time_zone))
    return int(ms + moment.utcoffset().total_seconds() * 1000)


def thin(points: list, window_ms: int) -> list:
    """At most one point per slot of the window (the latest), keeping the window's first
    point, and at most ``MAX_SERIES_POINTS + 1`` points in all (an unaligned window touches
    one slot more than it holds).

    A chart cannot show more points than it has pixels; dashboard.js extends live series
    by the same rules (``sameSlot`` and its drop), so a trace's length is bounded at any
    update rate.
    """
    slot = max(1, window_ms // MAX_SERIES_POINTS)
    kept: list = []
    for ms, value in points:
        if len(kept) > 1 and ms // slot == kept[-1][0] // slot:
            kept[-1] = (ms, value)
        else:
            kept.append((ms, value))
    return kept[-(MAX_SERIES_POINTS + 1):]


def hold_to_now(points: list, now_ms: int) -> list:
    """The points with the last value held up to ``now_ms``: a change-driven value stays
    until it changes, so a chart must show it up to now (dashboard.js moves this tail point
    to the new now on every redraw)."""
    if not points or points[-1][0] >= now_ms:
        return points
    return [*points, (now_ms, points[-1][1])]


def _series(spec: dict, points: list, time_zone: str, now_ms: int, live: bool) -> tuple[list, list, bool]:
    """x (local ms) and y of a line or sparkline, and whether its last point is the held "now"
    tail (only while the value is live: a stale value is not drawn on into the present)."""
    kept = thin(points, spec["history_minutes"] * 60_000)
    held = hold_to_now(kept, now_ms) if live else kept
    return [local_ms(ms, time_zone) for ms, _ in held], [v for _, v in held], len(held) > len(kept)


def widget_state(states: list[str]) -> str:
    """A widget's state: the worst of its values' (``widgetState`` in static/dashboard/tiles.js mirrors it).

    STALE outranks NO DATA: a stale number looks like a real one, a missing one already
    shows "?"; a widget with nothing to show is "unknown".
    """
    if "stale" in states:
        return "stale"
    return "fresh" if states and all(state == "fresh" for state in states) else "unknown"


def _step(trace: dict, tail: bool) -> dict:
    """A change-driven series drawn as steps ("hv": the value holds until the next one), not
    slopes; ``meta.tail`` tells dashboard.js that the last point is the held "now"."""
    trace["line"]["shape"] = "hv"
    trace["meta"] = {"tail": tail}
    return trace


def time_window(spec: dict, time_zone: str, now_ms: int) -> list:
    """The x range of a line or sparkline: its whole history window up to now, in local ms.

    Fixed, not autoranged: one point would otherwise be stretched over a sub-second axis,
    and a quiet spell would shrink "last 15 min" to the last update (dashboard.js slides it).
    """
    return [local_ms(now_ms - spec["history_minutes"] * 60_000, time_zone), local_ms(now_ms, time_zone)]


def gauge_max(spec: dict, number: float | None) -> float:
    """Upper end of a gauge's axis: room above the critical level and the value."""
    top = max(x for x in (spec["critical"], spec["warning"], number, 0) if x is not None)
    return top * 1.25 if top > 0 else 1.0


def kpi_figure(spec: dict, tiles: list, history: dict, time_zone: str, now_ms: int) -> dict:
    """A KPI's trend sparkline (the big number itself is HTML, for reading distance)."""
    key = spec["statistics"][0]["key"] if spec["statistics"] else None
    live = bool(tiles) and tiles[0]["state"] == "fresh"
    x, y, tail = _series(spec, history.get(key, []), time_zone, now_ms, live)
    color = tiles[0]["color"] if live else thresholds.PALETTE[thresholds.NONE]  # a stale trend has no threshold colour
    trace = _step({"type": "scatter", "mode": "lines", "x": x, "y": y, "line": {"color": color, "width": 2},
                   "fill": "tozeroy"}, tail)
    axis = {"visible": False, "fixedrange": True}
    xaxis = {**axis, "type": "date", "range": time_window(spec, time_zone, now_ms)}
    layout = _layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, xaxis=xaxis, yaxis=axis)
    return {"data": [trace], "layout": layout}


def gauge_figure(spec: dict, tiles: list) -> dict:
    """A gauge with the warning/critical bands drawn on its axis."""
    number = tiles[0]["value"] if tiles and tiles[0]["value"] != "" else None
    top = gauge_max(spec, number)
    steps = []
    bands = [(spec["warning"], spec["critical"], thresholds.WARNING), (spec["critical"], None, thresholds.CRITICAL)]
    for start, end, level in bands:
        if start is None:
            continue
        low, high = (start, end if end is not None else top) if spec["direction"] == "above" else (end or 0, start)
        steps.append({"range": [low, high], "color": thresholds.PALETTE[level] + "55"})
    live = bool(tiles) and tiles[0]["state"] != "stale"
    color = tiles[0]["color"] if live else thresholds.PALETTE[thresholds.NONE]
    trace = {
        "type": "indicator",
        "mode": "gauge",
        "value": number if number is not None else 0,
        "gauge": {"axis": {"range": [0, top]}, "bar": {"color": color}, "steps": steps},
    }
    # Plotly draws the arc's tick labels outside its domain: the margins are their room
    # (the top label above the arc, "0" and the last label beside and under its ends).
    return {"data": [trace], "layout": _layout(margin={"l": 35, "r": 35, "t": 24, "b": 12})}


def axis_labels(labels: list[str]) -> list[str]:
    """Labels without the words they all share ("Sales waiting", "Billing waiting" → "Sales", "Billing")."""
    words = [label.split() for label in labels]
    if len(words) < 2:
        return labels
    head = 0
    while all(len(w) > head + 1 for w in words) and len({w[head] for w in words}) == 1:
        head += 1
    tail = 0
    while all(len(w) > head + tail + 1 for w in words) and len({w[-1 - tail] for w in words}) == 1:
        tail += 1
    return [" ".join(w[head:len(w) - tail]) for w in words]


def bar_figure(spec: dict, tiles: list) -> dict:
    """One bar per statistic, coloured by its threshold level (grey while the widget is stale:
    a threshold colour says "this is the state now")."""
    stale = widget_state([t["state"] for t in tiles]) == "stale"
    trace = {
        "type": "bar",
        "x": axis_labels([t["label"] for t in tiles]),
        "y": [t["value"] if t["value"] != "" else None for t in tiles],
        "marker": {"color": [thresholds.PALETTE[thresholds.NONE] if stale else t["color"] for t in tiles]},
        "text": [t["text"] for t in tiles],
        "textposition": "auto",
    }
    # Text that would have to shrink to fit is hidden: every text is read at the same size.
    layout = _layout(yaxis={"rangemode": "tozero", "gridcolor": "#334", "automargin": True},
                     xaxis={"tickangle": 0, "automargin": True}, uniformtext={"mode": "hide", "minsize": 14})
    return {"data": [trace], "layout": layout}


def line_figure(spec: dict, tiles: list, history: dict, time_zone: str, now_ms: int) -> dict:
    """One line per statistic over the widget's history window."""
    data = []
    for index, t in enumerate(tiles):
        x, y, tail = _series(spec, history.get(t["key"], []), time_zone, now_ms, t["state"] == "fresh")
        color = SERIES_COLORS[index % len(SERIES_COLORS)]
        data.append(_step({"type": "scatter", "mode": "lines", "name": t["label"], "x": x, "y": y, "line": {"color": color}},
                          tail))
    # The legend sits above the plot, where it cannot cover the time axis's labels.
    layout = _layout(
        showlegend=len(tiles) > 1,
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
        # automargin: room for the date under the times
        xaxis={"type": "date", "gridcolor": "#334", "automargin": True, "range": time_window(spec, time_zone, now_ms)},
        yaxis={"rangemode": "tozero", "gridcolor": "#334", "automargin": True},
    )
    return {"data": data, "layout": layout}


def counts_agents(tiles: list) -> bool:
    """True when a donut counts agents by state (its slices are states, not its tiles)."""
    return bool(tiles) and all("agent" in t for t in tiles)


def tiles_name_slices(tiles: list) -> bool:
    """True when a donut's tiles are its slices, one each, and on show (_widget.html hides more
    than MAX_SHOWN_TILES): each tile then carries its slice's colour and the chart needs no legend."""
    return not counts_agents(tiles) and len(tiles) <= MAX_SHOWN_TILES


def donut_slices(statistics: list, tiles: list) -> tuple[list, list, list]:
    """Labels, counts and colours of a donut.

    Agent-state statistics are counted by state ("agents by state"); numeric ones give
    one slice each (``statistics``: the widget spec's, in tile order).
    """
    if counts_agents(tiles):
        counts: dict[str, int] = {}
        for t in tiles:
            counts[t["agent"]["state"]] = counts.get(t["agent"]["state"], 0) + 1
        states = sorted(counts)
        colors = [AGENT_STATES.get(s, UNKNOWN_AGENT_STATE)["color"] for s in states]
        return [names.agent_state_label(s) for s in states], [counts[s] for s in states], colors
    labels = [t["label"] for t in tiles]
    values = [t["value"] if t["value"] != "" else 0 for t in tiles]
    return labels, values, slice_colors([stat["name"] for stat in statistics])


def agent_state_named(statistic_name: str) -> str | None:
    """The agent state a count statistic is named after ("AgentsNotReady" → "NotReady"), if any."""
    lowered = statistic_name.lower()
    for state in sorted(AGENT_STATES, key=len, reverse=True):  # "NotReady" before "Ready"
        if state.lower() in lowered:
            return state
    return None


def slice_colors(statistic_names: list[str]) -> list[str]:
    """Colours of a numeric donut's slices: the agent-state colours when every slice counts
    a different agent state (so "ready" is the same green on every widget), else the series palette."""
    states = [agent_state_named(name) for name in statistic_names]
    if None not in states and len(set(states)) == len(states):
        return [AGENT_STATES[state]["color"] for state in states]
    return [SERIES_COLORS[i % len(SERIES_COLORS)] for i in range(len(statistic_names))]


def donut_figure(spec: dict, tiles: list) -> dict:
    """A donut of the statistics (or of agents by state)."""
    labels, values, colors = donut_slices(spec["statistics"], tiles)
    trace = {
        "type": "pie",
        "hole": 0.55,
        "labels": labels,
        "values": values,
        "marker": {"colors": colors},
        "textinfo": "value",
        "textposition": "inside",
        "insidetextorientation": "horizontal",
        "sort": False,
    }
    # Tiles that name the slices (render gives each its slice's colour) make a legend redundant.
    layout = _layout(margin={"l": 4, "r": 4, "t": 4, "b": 4}, showlegend=not tiles_name_slices(tiles),
                     legend={"orientation": "v", "x": 1, "y": 0.5}, uniformtext={"mode": "hide", "minsize": 14})
    return {"data": [trace], "layout": layout}


def queue_table(spec: dict, tiles: list) -> dict:
    """Rows per queue (object id), columns per statistic name, in widget order; headed by
    their display names ("Sales", "Waiting"), not the ids."""
    columns: dict[str, str] = {}  # statistic name (or label of a custom one) -> header
    rows: dict[str, dict] = {}
    names_of_rows: dict[str, str] = {}
    for stat, t in zip(spec["statistics"], tiles, strict=True):
        column = stat["name"] or stat["label"]
        columns.setdefault(column, stat.get("statistic_name") or column)
        rows.setdefault(stat["object_id"], {})[column] = t
        names_of_rows.setdefault(stat["object_id"], stat.get("object_name") or stat["object_id"])
    return {
        "columns": list(columns.values()),
        "rows": [{"label": names_of_rows[obj], "object_id": obj, "cells": [cells.get(c) for c in columns]}
                 for obj, cells in rows.items()],
    }


def render(spec: dict, values: dict, history: dict, time_zone: str, now_ms: int | None = None) -> dict:
    """Render a widget with its current values (as of ``now_ms``, default now): its tiles, and a figure or a table."""
    now_ms = frames.now_ms() if now_ms is None else now_ms
    tiles = [tile(spec, stat, values.get(stat["key"])) for stat in spec["statistics"]]
    kind = spec["type"]
    figure = None
    table = None
    if kind == "kpi":
        figure = kpi_figure(spec, tiles, history, time_zone, now_ms)
    elif kind == "gauge":
        figure = gauge_figure(spec, tiles)
    elif kind == "bar":
        figure = bar_figure(spec, tiles)
    elif kind == "line":
        figure = line_figure(spec, tiles, history, time_zone, now_ms)
    elif kind == "donut":
        figure = donut_figure(spec, tiles)
        if tiles_name_slices(tiles):  # each tile keys its slice: the slice's colour, a short name
            shorts = axis_labels([t["label"] for t in tiles])  # the title says what they share
            for t, color, short in zip(tiles, figure["data"][0]["marker"]["colors"], shorts, strict=True):
                t["swatch"], t["short"] = color, short[:1].upper() + short[1:]
    elif kind == "queue_table":
        table = queue_table(spec, tiles)
    elif kind == "agent_grid":  # each tile is an agent: its name is the label on sight
        for t, stat in zip(tiles, spec["statistics"], strict=True):
            t["short"] = stat.get("object_name") or stat["object_id"]
    return {"spec": spec, "tiles": tiles, "figure": figure, "table": table,
            "state": widget_state([t["state"] for t in tiles])}
