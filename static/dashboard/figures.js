// Plotly figures of the live page: plotting the server-rendered figures, keeping their live
// parts (gauge, bars, donut slices, line and sparkline series with their stale gaps) in step
// with the values, paced redraws, and sizing charts and their text to their boxes.
//
// Series stay bounded (one point per slot of a line's window, mirror of dashboard/figures.py),
// so memory does not grow with uptime.

import { displayText, numeric, stateLabel } from "./formatting.js";
import { PALETTE } from "./thresholds.js";

// Points per line or sparkline (mirror of figures.MAX_SERIES_POINTS): one per slot of
// its window, so a trace stays this size at any update rate and uptime.
const MAX_SERIES_POINTS = 300;
const ZONE_SLOT_MS = 900000; // time-zone offsets change on quarter hours at the finest
// A figure redraws at most this often (a Plotly.react costs milliseconds); the numbers
// on the tiles, which are HTML, follow every animation frame.
const FIGURE_INTERVAL_MS = 1000;
// One frame starts no more redraws after this long and leaves the rest to the next frames:
// a wall's 10 s slide of 48 sparklines was otherwise one task of 150-300 ms.
const DRAW_BUDGET_MS = 12;
// Chart text on desks and phones (walls size theirs from the screen: wallUnit).
const DESK_FONT_PX = 14;
const WALL_FONT_UNITS = 2; // chart text on a wall, in wallUnit()s (dashboard.css: --u; its smallest text is 1.9)
// Shaded stale stretches a line keeps (older ones scroll out of the window first).
const MAX_GAPS = 4;
const STALE_FILL = "rgba(160, 170, 180, 0.28)";

/** Offset of a time zone from UTC at epoch-ms `ms`, in ms (Berlin in winter: 3600000). */
export function zoneOffsetMs(ms, timeZone) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date(ms));
  const get = (t) => Number(parts.find((p) => p.type === t).value);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return wall - (ms - (((ms % 1000) + 1000) % 1000));
}

/** The wall-clock time of `ms` in a time zone, as epoch-ms of that reading in UTC (mirror of figures.local_ms).
 *  Plotly date axes show numbers as UTC; numbers, unlike date strings, are not re-parsed on every redraw. */
export function localMs(ms, timeZone) {
  return ms + zoneOffsetMs(ms, timeZone);
}

/** Whether a new point at `at` replaces the last one of a series (mirror of figures.thin): one point per slot. */
export function sameSlot(times, at, slotMs) {
  const last = times.length - 1;
  return last >= 1 && Math.floor(at / slotMs) === Math.floor(times[last] / slotMs);
}

/** 1 % of a wall's height (of a 16:9 screen's, on a narrower one), times the display's text
 *  scale; the same unit as --u in dashboard.css. */
export function wallUnit(width, height, scale = 1) {
  return (Math.min(height, width * 0.5625) / 100) * scale;
}

/** Size a figure's fonts, margins and tick counts for `font` px text in a `width`×`height` box
 *  (server figures are drawn for 14 px; a wall's text grows with its screen). */
export function fitFigure(spec, figure, width, height, font) {
  const layout = figure.layout;
  const f = Math.round(font);
  layout.font = { ...(layout.font || {}), size: f };
  // Text that would have to shrink to fit a bar or slice is hidden instead: Plotly would
  // otherwise scale it below the size everything else is read at.
  layout.uniformtext = { mode: "hide", minsize: f };
  const trace = figure.data[0];
  if (spec.type === "gauge") {
    layout.margin = { l: Math.round(2 * f), r: Math.round(2 * f), t: Math.round(1.8 * f), b: Math.round(0.9 * f) };
    if (trace) trace.gauge.axis.nticks = Math.max(3, Math.min(6, Math.floor(width / (4 * f))));
  } else if (spec.type === "bar" || spec.type === "line") {
    layout.margin = { l: Math.round(0.6 * f), r: Math.round(0.8 * f), t: Math.round((spec.type === "bar" ? 1.3 : 0.4) * f), b: Math.round(0.4 * f) };
    const plotHeight = Math.max(1, height - 3.5 * f);
    layout.yaxis = { ...layout.yaxis, automargin: true, nticks: Math.max(2, Math.min(6, Math.floor(plotHeight / (2.2 * f)))) };
    layout.xaxis = { ...layout.xaxis, automargin: true };
    if (spec.type === "line") layout.xaxis.nticks = Math.max(2, Math.floor(width / (5.5 * f)));
    else layout.xaxis.tickangle = width / Math.max(1, (trace && trace.x.length) || 1) < 5 * f ? "auto" : 0;
    if (spec.type === "bar" && trace) trace.textfont = { size: f };
  } else if (spec.type === "donut") {
    if (trace) trace.textfont = { size: f };
  }
}

/** What a figure draws of one value: its kind, number, text, agent state and threshold level
 *  (`level`), not its time. Two values with the same key draw the same bar, slice, gauge or
 *  sparkline colour; a line's new point at an unchanged value only extends it, which the
 *  window's slide (LivePage, every 10 s) shows. */
export function shownKey(value, level) {
  if (!value || value.kind === "unknown") return `unknown|${level}`;
  const agent = value.kind === "agent_state" ? (value.agent && value.agent.state) || "" : "";
  return `${value.kind}|${numeric(value)}|${value.text ?? ""}|${agent}|${level}`;
}

/** Draw server-rendered figures once, without a socket (the history view). */
export function drawStatic(figures) {
  for (const [id, figure] of Object.entries(figures)) {
    const el = document.querySelector(`#w-${id} .figure`);
    if (el && window.Plotly) window.Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
  }
}

/** One server-rendered widget: its element, its tiles, its figure and the live state of both. */
export class Widget {
  spec;
  el;
  figureEl;
  figure; // the Plotly figure (data and layout), or null for tiles only
  wrap; // the wall board holding it (hidden boards are redrawn when shown, not on every update)
  state; // fresh, stale or unknown: the worst of its tiles'
  tileEls = [];
  plotted = false;
  revision = 0; // layout.datarevision of the last redraw
  drawnAt = 0; // performance.now() of the last redraw
  font = 0; // chart text px it was last sized for
  series = new Map(); // statistic key -> { trace, times (epoch-ms of each point), tail }
  shown = new Map(); // statistic key -> shownKey of the value it last queued a redraw for
  gaps = []; // shaded stale stretches: { from, to (null while open) } in epoch-ms

  constructor(spec, el, figure) {
    this.spec = spec;
    this.el = el;
    this.figureEl = el.querySelector(".figure");
    this.figure = figure;
    this.wrap = el.closest(".board-wrap");
    this.state = el.dataset.state || "unknown";
  }
}

/** The plotted widgets of a page and everything that keeps their figures live. */
export class Figures {
  widgets = []; // the plotted ones
  byKey = new Map(); // statistic key -> widgets showing it
  unDrawn = new Set(); // widgets whose figure is behind their values
  timer = 0; // the pending paced redraw
  zoneSlot = null; // { from, until, offset }: the cached time-zone offset
  wall; // on a wall: static plots, text sized from the screen
  textScale;
  timeZone;
  agentStates;
  store;
  clock; // ServerClock
  requestFrame; // () => void: a redraw is due
  linkSound; // () => bool: the link vouches for fresh values

  constructor({ config, timeZone, store, clock, requestFrame, linkSound }) {
    this.wall = !!config.wall;
    this.textScale = (config.wall && config.wall.textScale) || 1;
    this.timeZone = timeZone;
    this.agentStates = config.agentStates;
    this.store = store;
    this.clock = clock;
    this.requestFrame = requestFrame;
    this.linkSound = linkSound;
  }

  /** Plot a widget's server-rendered figure (if it has one and Plotly is there) and follow its statistics. */
  add(widget) {
    const { spec, el, figureEl, figure } = widget;
    if (figure && figureEl && window.Plotly) {
      // Fixed sizes: with autosize Plotly measures the element (a forced layout) on every redraw.
      figure.layout.autosize = false;
      this.sizeFigure(widget);
      if (widget.state === "stale") this.styleFigure(widget);
      // A chart's STALE mark sits on the chart itself (a KPI's under its number: its sparkline is too flat to hold it).
      const mark = el.querySelector(".stale-mark");
      if (mark && spec.type !== "kpi") figureEl.append(mark);
      window.Plotly.newPlot(figureEl, figure.data, figure.layout, { displayModeBar: false, responsive: false, staticPlot: this.wall });
      if (spec.type === "line" || spec.type === "kpi") this.indexSeries(widget);
      widget.plotted = true;
      this.widgets.push(widget);
    }
    for (const stat of spec.statistics) {
      if (!this.byKey.has(stat.key)) this.byKey.set(stat.key, []);
      this.byKey.get(stat.key).push(widget);
    }
  }

  /** The widgets showing statistic `key`. */
  widgetsFor(key) {
    return this.byKey.get(key) || [];
  }

  /** A new value for `key` reached `widget`: extend its series; redraw it when due if the
   *  figure would look different. A value re-sent with only a new time (most updates of a
   *  quiet statistic) draws the same pixels: a Plotly.react costs milliseconds, and a wall of
   *  48 sparklines redrawing each second for nothing kept its main thread a quarter busy. */
  update(widget, key, value) {
    this.extendSeries(widget, key, value);
    if (!widget.plotted) return;
    const shown = shownKey(value, this.store.levels.get(`${widget.spec.id}:${key}`) || "none");
    if (widget.shown.get(key) === shown) return;
    widget.shown.set(key, shown);
    this.unDrawn.add(widget);
  }

  /** Remember the epoch-ms of each point of the server-rendered series (for slots and trimming). */
  indexSeries(widget) {
    const keys = widget.spec.type === "kpi" ? widget.spec.statistics.slice(0, 1) : widget.spec.statistics;
    keys.forEach((stat, index) => {
      const trace = widget.figure.data[index];
      if (!trace) return;
      // The server held the last value up to "now" (figures.hold_to_now): a tail point that
      // each redraw moves to the new now, not a sample.
      const tail = !!(trace.meta && trace.meta.tail);
      // x is local wall-clock ms; the offset at x itself is off only within an hour of a DST change.
      const times = (tail ? trace.x.slice(0, -1) : trace.x).map((x) => x - this.zoneOffset(x));
      widget.series.set(stat.key, { trace, times, tail });
    });
  }

  /** A line's or sparkline's x range: its history window up to now, in local ms (mirror of figures.time_window). */
  timeWindow(spec) {
    const now = this.clock.now();
    // One offset for both ends (the cached one of now): a window spanning a DST change is
    // off by the change at its far end, where looking up a second offset would thrash the cache.
    const offset = this.zoneOffset(now);
    return [now - spec.history_minutes * 60000 + offset, now + offset];
  }

  /** Queue a redraw of every line chart and sparkline, so its window and its held last value keep up with the clock. */
  slide() {
    for (const widget of this.widgets) if (widget.plotted && widget.series.size) this.unDrawn.add(widget);
    this.draw();
  }

  /** The page time zone's offset at `ms`, computed once per quarter hour (Intl is slow). */
  zoneOffset(ms) {
    let slot = this.zoneSlot;
    if (!slot || ms < slot.from || ms >= slot.until) {
      const from = ms - (((ms % ZONE_SLOT_MS) + ZONE_SLOT_MS) % ZONE_SLOT_MS);
      slot = this.zoneSlot = { from, until: from + ZONE_SLOT_MS, offset: zoneOffsetMs(from, this.timeZone) };
    }
    return slot.offset;
  }

  /** Give a figure its element's size, and text sized for the screen; true when that changed
   *  (a hidden element keeps the old size). */
  sizeFigure(widget) {
    const { figureEl, figure } = widget;
    const width = figureEl.clientWidth;
    const height = figureEl.clientHeight;
    const font = this.chartFont();
    if (!width || !height || (figure.layout.width === width && figure.layout.height === height && widget.font === font)) return false;
    figure.layout.width = width;
    figure.layout.height = height;
    widget.font = font;
    fitFigure(widget.spec, figure, width, height, font);
    return true;
  }

  /** Chart text in px: on a wall a share of the screen's height (as the CSS text), else DESK_FONT_PX. */
  chartFont() {
    if (!this.wall) return DESK_FONT_PX;
    return Math.max(12, WALL_FONT_UNITS * wallUnit(window.innerWidth, window.innerHeight, this.textScale));
  }

  /** A board became visible: size its figures and catch up on the updates they missed. */
  show(wrap) {
    for (const widget of this.widgets) {
      if (widget.wrap !== wrap) continue;
      if (this.sizeFigure(widget) || this.unDrawn.has(widget)) this.redraw(widget);
    }
  }

  /** Resize a figure when its box changes (the window, a board shown, tiles growing), and only then. */
  watchResize() {
    if (!window.ResizeObserver) return;
    const byElement = new Map(this.widgets.map((widget) => [widget.figureEl, widget]));
    const observer = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const widget = byElement.get(entry.target);
        if (widget && !(widget.wrap && widget.wrap.hidden) && this.sizeFigure(widget)) this.redraw(widget);
      }
    });
    for (const element of byElement.keys()) observer.observe(element);
  }

  /** Redraw the figures that are behind, each at most once per FIGURE_INTERVAL_MS and for at most
   *  DRAW_BUDGET_MS a frame; hidden boards wait to be shown. */
  draw() {
    const now = performance.now();
    let next = Infinity;
    for (const widget of this.unDrawn) {
      if (widget.wrap && widget.wrap.hidden) continue;
      const due = widget.drawnAt + FIGURE_INTERVAL_MS;
      if (due > now) next = Math.min(next, due);
      else if (performance.now() - now < DRAW_BUDGET_MS) this.redraw(widget);
      else {
        this.requestFrame(); // over this frame's budget: the rest in the next one
        return;
      }
    }
    if (next < Infinity && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = 0;
        this.requestFrame();
      }, next - now);
    }
  }

  /** A widget turned to or from stale (`was`: its state before): break its lines there, a
   *  stale stretch is a shaded gap, not a line. */
  stateChanged(widget, was) {
    const now = this.clock.now();
    if (widget.state === "stale") {
      for (const series of widget.series.values()) this.breakSeries(series, now);
      widget.gaps.push({ from: now, to: null });
      if (widget.gaps.length > MAX_GAPS) widget.gaps.shift();
    } else if (was === "stale") {
      const gap = widget.gaps[widget.gaps.length - 1];
      if (gap && gap.to === null) gap.to = now;
      // The line resumes at the current value from now on (its reading may predate the gap).
      for (const [key, series] of widget.series) this.resumeSeries(series, numeric(this.store.values.get(key)), now);
    }
    if (widget.plotted) this.unDrawn.add(widget);
  }

  /** End a series where its data went stale: the last value held to `at`, then a gap (null). */
  breakSeries(series, at) {
    const { trace, times } = series;
    this.dropTail(series);
    if (!times.length || trace.y[trace.y.length - 1] === null || at <= times[times.length - 1]) return;
    const x = at + this.zoneOffset(at);
    times.push(at, at + 1);
    trace.x.push(x, x + 1);
    trace.y.push(trace.y[trace.y.length - 1], null);
  }

  /** Start a series again after a gap, at `at` with the current value. */
  resumeSeries(series, number, at) {
    const { trace, times } = series;
    this.dropTail(series);
    if (number === null || (times.length && at <= times[times.length - 1])) return;
    times.push(at);
    trace.x.push(at + this.zoneOffset(at));
    trace.y.push(number);
  }

  /** Take off the point that holds the last value to now (redraw puts it back at the new now). */
  dropTail(series) {
    if (!series.tail) return;
    series.trace.x.pop();
    series.trace.y.pop();
    series.tail = false;
  }

  /** Hold each live series' last value up to `now` (change-driven values are steps, not ramps). */
  holdToNow(widget, now) {
    if (widget.state === "stale") return; // a stale stretch stays a gap
    const x = now + this.zoneOffset(now);
    for (const series of widget.series.values()) {
      this.dropTail(series);
      const { trace, times } = series;
      const last = trace.y.length - 1;
      if (last < 0 || trace.y[last] === null || now <= times[times.length - 1]) continue;
      trace.x.push(x);
      trace.y.push(trace.y[last]);
      series.tail = true;
    }
  }

  /** The shaded stale stretches of a line or sparkline, in local ms, up to `now` for an open one. */
  gapShapes(widget, now) {
    const start = now - widget.spec.history_minutes * 60000;
    widget.gaps = widget.gaps.filter((gap) => gap.to === null || gap.to > start);
    return widget.gaps.map((gap) => ({
      type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1, layer: "above", line: { width: 0 }, fillcolor: STALE_FILL,
      x0: gap.from + this.zoneOffset(gap.from), x1: (gap.to || now) + this.zoneOffset(gap.to || now),
    }));
  }

  /** Apply a widget's staleness to its figure: threshold colours go, lines break (redraw calls it). */
  styleFigure(widget) {
    const trace = widget.figure.data[0];
    if (!trace || widget.state !== "stale") return;
    if (widget.spec.type === "bar") trace.marker.color = trace.y.map(() => PALETTE.none);
    else if (widget.spec.type === "gauge") trace.gauge.bar.color = PALETTE.none;
    else if (widget.spec.type === "kpi") trace.line.color = PALETTE.none;
  }

  /** Append a live point to a line/sparkline: one point per slot of its window, none older than it. */
  extendSeries(widget, key, value) {
    const series = widget.series.get(key);
    const number = numeric(value);
    if (!series || number === null) return;
    const at = value.timestamp || value.received || Date.now();
    const { trace, times } = series;
    if (times.length && at <= times[times.length - 1]) return;
    if (widget.state === "stale" && !(value.state === "fresh" && this.linkSound())) return; // inside a gap
    this.dropTail(series);
    const windowMs = widget.spec.history_minutes * 60000;
    const x = at + this.zoneOffset(at);
    // (a gap's null is never replaced: the break must stay)
    if (trace.y[trace.y.length - 1] !== null && sameSlot(times, at, Math.max(1, Math.floor(windowMs / MAX_SERIES_POINTS)))) {
      const last = times.length - 1;
      times[last] = at;
      trace.x[last] = x;
      trace.y[last] = number;
      return;
    }
    times.push(at);
    trace.x.push(x);
    trace.y.push(number);
    const oldest = at - windowMs;
    let drop = 0;
    while (drop < times.length && (times[drop] < oldest || times.length - drop > MAX_SERIES_POINTS + 1)) drop++;
    if (drop) {
      times.splice(0, drop);
      trace.x.splice(0, drop);
      trace.y.splice(0, drop);
    }
  }

  /** Recompute a figure's live parts and hand it to Plotly.react (draw paces the calls). */
  redraw(widget) {
    const { spec, figure, figureEl } = widget;
    if (!widget.plotted) return;
    const { values, levels } = this.store;
    const tiles = spec.statistics.map((s) => ({ stat: s, value: values.get(s.key), level: levels.get(`${spec.id}:${s.key}`) || "none" }));
    const trace = figure.data[0];
    if (spec.type === "gauge" && tiles[0]) {
      const number = numeric(tiles[0].value);
      trace.value = number === null ? 0 : number;
      trace.gauge.bar.color = PALETTE[tiles[0].level];
      if (number !== null && number > trace.gauge.axis.range[1]) trace.gauge.axis.range = [0, number * 1.25];
    } else if (spec.type === "bar") {
      trace.y = tiles.map((t) => numeric(t.value));
      trace.text = tiles.map((t) => displayText(t.value, spec.format, this.agentStates));
      trace.marker.color = tiles.map((t) => PALETTE[t.level]);
    } else if (spec.type === "donut") {
      this.donutSlices(trace, tiles);
    } else if (spec.type === "kpi" && tiles[0]) {
      trace.line.color = PALETTE[tiles[0].level];
    }
    this.styleFigure(widget);
    if (spec.type === "line" || spec.type === "kpi") {
      const now = this.clock.now();
      figure.layout.xaxis.range = this.timeWindow(spec);
      this.holdToNow(widget, now);
      if (widget.gaps.length || figure.layout.shapes) figure.layout.shapes = this.gapShapes(widget, now);
    }
    this.unDrawn.delete(widget);
    widget.drawnAt = performance.now();
    figure.layout.datarevision = ++widget.revision;
    window.Plotly.react(figureEl, figure.data, figure.layout);
  }

  donutSlices(trace, tiles) {
    const agentStates = this.agentStates || {};
    if (tiles.length && tiles.every((t) => t.value && t.value.kind === "agent_state")) {
      const counts = new Map();
      for (const t of tiles) {
        const state = (t.value.agent && t.value.agent.state) || "Unknown";
        counts.set(state, (counts.get(state) || 0) + 1);
      }
      const states = [...counts.keys()].sort();
      trace.labels = states.map((state) => stateLabel(state, agentStates));
      trace.values = states.map((state) => counts.get(state));
      trace.marker.colors = states.map((state) => (agentStates[state] || { color: "#999999" }).color);
    } else {
      trace.values = tiles.map((t) => numeric(t.value) || 0);
    }
  }
}
