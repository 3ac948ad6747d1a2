"""What the live page redraws and when (static/dashboard/store.js, figures.js), run in node:
a figure is redrawn for a value that changes what it draws, not for one re-sent with a new
time; values are applied in the animation frame, the fallback timer only when no frame came.

These are the wall's main-thread costs (docs/benchmarks.md, browser): a Plotly.react per
sparkline per second for values that had not changed, and 250 ms timers that applied the
values outside the frame."""

import json

from tests.dashboard.test_formatting import ROOT, run_node

STORE = (ROOT / "static/dashboard/store.js").as_uri()
FIGURES = (ROOT / "static/dashboard/figures.js").as_uri()

# A browser's frame and timer queues, run by hand: `frame()` runs the animation-frame
# callbacks, `fire(id)` one timer; `live` holds the timers not yet fired or cancelled.
FAKE_BROWSER = """
const frames = []; const live = new Map(); let nextId = 1;
globalThis.requestAnimationFrame = (callback) => frames.push(callback);
globalThis.setTimeout = (callback, ms) => { live.set(nextId, callback); return nextId++; };
globalThis.clearTimeout = (id) => { live.delete(id); };
const frame = () => { for (const callback of frames.splice(0)) callback(); };
const fire = (id) => { const callback = live.get(id); live.delete(id); if (callback) callback(); };
"""


def test_values_are_applied_in_the_frame_and_a_fallback_timer_never_outlives_it():
    got = run_node(f"""
      {FAKE_BROWSER}
      const {{ Store }} = await import({json.dumps(STORE)});
      let where = null; const applied = [];
      const store = new Store(() => applied.push(where));
      const timersSeen = [];
      for (let n = 0; n < 10; n++) {{
        for (let i = 0; i < 5; i++) {{ store.set(`k${{i}}`, {{ value: n }}); store.requestFrame(); }}
        timersSeen.push(live.size);
        // A timer from an earlier request firing before this frame must not apply the values.
        where = "timer"; for (const id of [...live.keys()].slice(0, -1)) fire(id);
        where = "frame"; frame();
      }}
      const afterFrames = live.size;
      // A hidden tab gets no frames: the one timer applies the values.
      store.set("k0", {{ value: 99 }}); store.requestFrame(); store.requestFrame();
      const hiddenTimers = live.size;
      where = "timer"; for (const id of [...live.keys()]) fire(id);
      console.log(JSON.stringify({{ applied, timersSeen, afterFrames, hiddenTimers }}));
    """)
    assert got["applied"] == ["frame"] * 10 + ["timer"]
    assert got["timersSeen"] == [1] * 10  # one fallback timer at a time
    assert got["afterFrames"] == 0  # the frame cancelled it
    assert got["hiddenTimers"] == 1


def figures_script(body: str) -> dict:
    """Run ``body`` with ``figures`` (a wall's Figures) and a plotted ``widget`` of ``spec``;
    ``queued()`` says whether the widget is queued for a redraw, and clears the queue."""
    return run_node(f"""
      const {{ Figures, Widget, shownKey }} = await import({json.dumps(FIGURES)});
      const store = {{ values: new Map(), levels: new Map() }};
      let now = Date.UTC(2026, 11, 6, 10, 0, 0);
      const figures = new Figures({{ config: {{ wall: {{}} }}, timeZone: "Europe/Berlin", store,
        clock: {{ now: () => now }}, requestFrame: () => {{}}, linkSound: () => true }});
      const element = {{ querySelector: () => null, closest: () => null, dataset: {{ state: "fresh" }} }};
      const widgetOf = (spec) => {{
        const widget = new Widget(spec, element, {{ data: [], layout: {{}} }});
        widget.plotted = true;
        figures.widgets.push(widget);
        return widget;
      }};
      const queued = (widget) => {{ const was = figures.unDrawn.has(widget); figures.unDrawn.clear(); return was; }};
      const number = (value, at) => ({{ kind: "number", value, state: "fresh", timestamp: at }});
      {body}
    """)


def test_a_value_resent_with_a_new_time_queues_no_redraw_a_changed_one_does():
    got = figures_script("""
      const widget = widgetOf({ id: 7, type: "gauge", statistics: [{ key: "k" }] });
      const steps = [];
      figures.update(widget, "k", number(3, 1000)); steps.push(queued(widget));  // first value
      figures.update(widget, "k", number(3, 2000)); steps.push(queued(widget));  // same, new time
      figures.update(widget, "k", number(4, 3000)); steps.push(queued(widget));  // new number
      store.levels.set("7:k", "warning");
      figures.update(widget, "k", number(4, 4000)); steps.push(queued(widget));  // new level (colour)
      figures.update(widget, "k", { ...number(4, 5000), text: "4 calls" }); steps.push(queued(widget));  // new text
      figures.update(widget, "k", { kind: "unknown", timestamp: 6000 }); steps.push(queued(widget));  // gone
      console.log(JSON.stringify(steps));
    """)
    assert got == [True, False, True, True, True, True]


def test_an_agent_state_change_is_a_redraw_a_new_since_is_not():
    got = figures_script("""
      const widget = widgetOf({ id: 8, type: "donut", statistics: [{ key: "a" }] });
      const agent = (state, since) => ({ kind: "agent_state", state: "fresh", agent: { state, since }, timestamp: since });
      const steps = [];
      figures.update(widget, "a", agent("Ready", 1)); steps.push(queued(widget));
      figures.update(widget, "a", agent("Ready", 2)); steps.push(queued(widget));
      figures.update(widget, "a", agent("Busy", 3)); steps.push(queued(widget));
      console.log(JSON.stringify({ steps, keys: [shownKey(agent("Ready", 1), "none"), shownKey(agent("Busy", 1), "none")] }));
    """)
    assert got["steps"] == [True, False, True]
    assert got["keys"][0] != got["keys"][1]


def test_a_sparkline_keeps_every_point_and_the_slide_redraws_what_values_did_not():
    got = figures_script("""
      const widget = widgetOf({ id: 9, type: "kpi", history_minutes: 15, statistics: [{ key: "s" }] });
      widget.series.set("s", { trace: { x: [], y: [] }, times: [], tail: false });
      figures.update(widget, "s", number(5, now - 60000)); queued(widget);
      const steps = [];
      for (let i = 1; i <= 5; i++) {  // one value a slot (3 s for 15 min), unchanged
        figures.update(widget, "s", number(5, now - 60000 + i * 3000)); steps.push(queued(widget));
      }
      const points = widget.series.get("s").times.length;
      widget.drawnAt = Infinity; // not due: draw() leaves it queued (no Plotly here)
      figures.slide(); // LivePage calls it every 10 s
      console.log(JSON.stringify({ steps, points, slid: figures.unDrawn.has(widget) }));
    """)
    assert got["steps"] == [False] * 5
    assert got["points"] == 6  # the series still has every slot's point
    assert got["slid"] is True


def test_due_redraws_are_spread_over_frames_within_a_budget_each_drawn_once():
    got = figures_script("""
      // A clock that only Plotly.react moves: each redraw takes 5 ms.
      let clock = 10000;
      Object.defineProperty(globalThis, "performance", { value: { now: () => clock }, configurable: true });
      const reacts = [];
      globalThis.window = { Plotly: { react: (el) => { reacts.push(el); clock += 5; } } };
      let frames = 0;
      figures.requestFrame = () => { frames++; };
      const widgets = [];
      for (let i = 0; i < 10; i++) {
        const widget = widgetOf({ id: i, type: "gauge", statistics: [{ key: `g${i}` }] });
        widget.figureEl = `figure ${i}`;
        widget.figure = { data: [{ value: 0, gauge: { bar: {}, axis: { range: [0, 10] } } }], layout: {} };
        figures.unDrawn.add(widget);
        widgets.push(widget);
      }
      const perFrame = [];
      for (let frame = 0; frame < 6 && figures.unDrawn.size; frame++) {
        const before = reacts.length;
        figures.draw();
        perFrame.push(reacts.length - before);
      }
      console.log(JSON.stringify({ perFrame, frames, drawn: new Set(reacts).size, left: figures.unDrawn.size }));
    """)
    # 12 ms a frame at 5 ms a redraw: three start in a frame, then the next frame is asked for.
    assert got["perFrame"] == [3, 3, 3, 1]
    assert got["frames"] == 3
    assert got["drawn"] == 10 and got["left"] == 0
