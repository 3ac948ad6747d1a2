// Live dashboards and walls: one small module, no framework.
//
// The page arrives rendered by the server (figures, tiles, values). This module keeps
// it live: one WebSocket with capped-backoff reconnect, a snapshot on every
// (re)connect, a resync on a sequence gap, updates batched per animation frame, tiles
// marked STALE within 2 s of losing the upstream, the bridge or the socket. Everything
// it keeps is bounded (latest value per statistic, capped line series), so memory does
// not grow with uptime. Pure helpers are exported and mirrored by dashboard/*.py and
// statsbridge/formatting.py (the display rules).

// ---- pure helpers ------------------------------------------------------------------

const RANK = { none: 0, ok: 0, warning: 1, critical: 2 };
export const PALETTE = { ok: "#0072B2", warning: "#E69F00", critical: "#D55E00", none: "#56657a" };

/** Threshold level with hysteresis (mirror of dashboard/thresholds.py `level`). */
export function levelFor(value, warning, critical, direction, hysteresis, previous) {
  if (value === null || value === undefined || (warning == null && critical == null)) return "none";
  const sign = direction === "below" ? -1 : 1;
  const signed = sign * value;
  const held = RANK[previous] || 0;
  const reached = (threshold, rank) => {
    if (threshold == null) return false;
    const margin = held >= rank ? hysteresis || 0 : 0;
    return signed >= sign * threshold - margin;
  };
  if (reached(critical, 2)) return "critical";
  if (reached(warning, 1)) return "warning";
  return "ok";
}

/** Icon and word for a coloured level (mirror of thresholds.cue). */
export function cueFor(level, direction) {
  const high = direction !== "below";
  if (level === "warning") return { icon: high ? "▲" : "▼", text: high ? "HIGH" : "LOW" };
  if (level === "critical") return { icon: high ? "▲▲" : "▼▼", text: high ? "CRITICAL HIGH" : "CRITICAL LOW" };
  return { icon: "", text: "" };
}

// ---- display text: a mirror of statsbridge/formatting.py (its docstring states the rules and why;
// tests/dashboard/test_formatting.py checks both give the same strings) -------------------------

/** The finite number a wire value carries, or null (mirror of formatting.numeric). */
export function numeric(value) {
  if (!value || value.kind === "unknown" || value.kind === "agent_state" || !value.kind) return null;
  return typeof value.value === "number" && Number.isFinite(value.value) ? value.value : null;
}

const NUMBER_PLACES = 2;
const PERCENT_PLACES = 1;
const DECIMAL_FORMATS = {};

/** A number grouped by thousands with at most `places` decimals, half away from zero on its shortest
 *  decimal form (mirror of formatting.decimal_text). Fixed "en-US": the Python side groups with ",". */
export function decimalText(number, places) {
  if (!DECIMAL_FORMATS[places]) DECIMAL_FORMATS[places] = new Intl.NumberFormat("en-US", { maximumFractionDigits: places });
  const text = DECIMAL_FORMATS[places].format(number);
  return text === "-0" ? "0" : text;
}

/** Seconds truncated to whole seconds, as m:ss or h:mm:ss (mirror of formatting.duration_text).
 *  BigInt keeps the arithmetic exact past 2^53, as Python's integers are. */
export function durationText(seconds) {
  const total = BigInt(Math.trunc(Math.abs(seconds)));
  const sign = seconds < 0 && total > 0n ? "-" : "";
  const hours = total / 3600n;
  const minutes = (total % 3600n) / 60n;
  const secs = total % 60n;
  const two = (n) => String(n).padStart(2, "0");
  return hours ? `${sign}${hours}:${two(minutes)}:${two(secs)}` : `${sign}${minutes}:${two(secs)}`;
}

/** Word a number under a widget format (mirror of formatting.format_number). */
export function formatNumber(number, fmt) {
  if (fmt === "duration") return durationText(number);
  if (fmt === "percent") return `${decimalText(number, PERCENT_PLACES)}%`;
  return decimalText(number, NUMBER_PLACES);
}

const KIND_FORMAT = { duration: "duration", percentage: "percent", number: "number" };

/** What people read for an agent state, from the server's one table (mirror of formatting.state_label). */
export function stateLabel(state, agentStates = {}) {
  if (!state) return "Unknown";
  return ((agentStates || {})[state] || {}).label || state;
}

/** What a tile shows (mirror of formatting.display_text); `agentStates` is the config's table. */
export function displayText(value, fmt, agentStates = {}) {
  if (!value || value.kind === "unknown") return "?";
  if (value.kind === "agent_state") return value.agent && value.agent.state ? stateLabel(value.agent.state, agentStates) : "?";
  const number = numeric(value);
  if (number === null) return "?";
  if (fmt === "auto") {
    if (value.text) return String(value.text);
    fmt = KIND_FORMAT[value.kind] || "number";
  }
  return formatNumber(number, fmt);
}

/** Reconnect delay: exponential from `base`, capped, with ±20 % jitter. */
export function backoffDelay(attempt, base = 500, cap = 8000, random = Math.random) {
  const raw = Math.min(cap, base * 2 ** Math.min(attempt, 16));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

/** What to do with a frame given the last sequence number seen for its dashboard. */
export function seqAction(lastSeq, frame) {
  if (frame.type === "snapshot") return "apply";
  if (lastSeq === undefined) return "ignore"; // no snapshot yet: it will bring everything
  if (frame.seq <= lastSeq) return "ignore"; // duplicate or older
  return frame.seq === lastSeq + 1 ? "apply" : "resync";
}

/** What a Connection says about the values: "" (live, streamed or polled), "reconnecting" or "down" (mirror of values.is_live). */
export function upstreamProblem(connection) {
  if (!connection) return "";
  if (connection.service === "UNAVAILABLE" || connection.bridge === "down" || connection.upstream === "down") return "down";
  const flowing = connection.upstream === "connected" || connection.upstream === "polling";
  if (!flowing || connection.service !== "AVAILABLE") return "reconnecting";
  return "";
}

/** The banner text while values are polled because CometD cannot be held, or "" when streaming. */
export function pollingText(connections) {
  for (const connection of connections) {
    if (connection && connection.upstream === "polling") {
      return connection.poll_seconds ? `POLLING · every ${connection.poll_seconds} s` : "POLLING";
    }
  }
  return "";
}

/** Minutes since local midnight of `ms` in a time zone. */
export function localMinutes(ms, timeZone) {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .formatToParts(new Date(ms));
  const get = (t) => Number(parts.find((p) => p.type === t).value);
  return get("hour") * 60 + get("minute");
}

/** True when `minutes` (since midnight) falls in a night window that may wrap midnight. */
export function inNight(minutes, start, end) {
  if (start === null || end === null || start === end) return false;
  return start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
}

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

/** A widget's state: the worst of its values' (mirror of figures.widget_state). STALE outranks
 *  NO DATA: a stale number looks like a real one, a missing one already shows "?". */
export function widgetState(states) {
  let worst = states.length ? "fresh" : "unknown";
  for (const state of states) {
    if (state === "stale") return "stale";
    if (state !== "fresh") worst = "unknown";
  }
  return worst;
}

/** What a tile's age line says: a live value is "unchanged for 4 min" (not "4 min ago", which
 *  reads as old data); a stale one says when it was last known; `clock(ms)` gives the time. */
export function ageWords(state, asOf, now, clock) {
  if (!asOf) return "no data yet";
  if (state === "stale") return `last known ${clock(asOf)}`;
  return `unchanged for ${ageText(now - asOf)}`;
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

/** A short age: "3 s", "4 min", "2 h". */
export function ageText(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

/** Time in state as m:ss or h:mm:ss. */
export function clockText(ms) {
  return formatNumber(Math.max(0, Math.floor(ms / 1000)), "duration");
}

// ---- the live page -----------------------------------------------------------------

// Points per line or sparkline (mirror of figures.MAX_SERIES_POINTS): one per slot of
// its window, so a trace stays this size at any update rate and uptime.
const MAX_SERIES_POINTS = 300;
const ZONE_SLOT_MS = 900000; // time-zone offsets change on quarter hours at the finest
// A figure redraws at most this often (a Plotly.react costs milliseconds); the numbers
// on the tiles, which are HTML, follow every animation frame.
const FIGURE_INTERVAL_MS = 1000;
// A line chart's window slides to "now" this often even when no value changes, so a
// quiet spell still reads as "last 15 min" (sparklines move only with their values).
const LINE_SLIDE_MS = 10000;
const STALE_AFTER_SILENCE_MS = 1800; // no frame at all for this long: treat the link as cut
// Chart text on desks and phones (walls size theirs from the screen: wallUnit).
const DESK_FONT_PX = 14;
const WALL_FONT_UNITS = 2; // chart text on a wall, in wallUnit()s (dashboard.css: --u; its smallest text is 1.9)
// Shaded stale stretches a line keeps (older ones scroll out of the window first).
const MAX_GAPS = 4;
const STALE_FILL = "rgba(160, 170, 180, 0.28)";
const RECONNECT_AFTER_SILENCE_MS = 5000;
const FORBIDDEN = 4403; // close code of a refused socket (dashboard/consumers.py)
// A desk's session ended (logout in any tab, deactivation) or its access or dashboard went:
// the page stops and says so instead of showing data (dashboard/consumers.py, issue 15).
const SIGNED_OUT = 4401;
const GONE = 4404;
// The first minute after a load can still count the previous document's heap, not yet
// collected: the memory watchdog waits it out, or each reload would trigger the next.
const MEMORY_GRACE_MS = 60000;

/** Keeps one page (a desk dashboard or a wall) live. */
export class LivePage {
  constructor(config, root = document) {
    this.config = config;
    this.root = root;
    this.timeZone = config.timeZone || "UTC";
    this.values = new Map(); // statistic key -> latest wire value
    this.levels = new Map(); // "widgetId:key" -> threshold level, for hysteresis
    this.seqs = new Map(); // dashboard slug -> last seq
    this.connections = new Map(); // dashboard slug -> Connection
    this.pending = new Set(); // keys changed since the last frame
    this.frameRequested = false;
    this.socket = null;
    this.attempt = 0;
    this.socketOpen = false;
    this.everLive = false;
    this.lastFrameAt = 0;
    this.clockOffset = 0; // server time - local time
    this.latency = null;
    this.startedAt = Date.now();
    this.tilesByKey = new Map();
    this.widgetsByKey = new Map();
    this.widgets = []; // the plotted ones
    this.textScale = (config.wall && config.wall.textScale) || 1;
    this.clock = new Intl.DateTimeFormat("en-GB", { timeZone: this.timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    this.unDrawn = new Set(); // widgets whose figure is behind their values
    this.figureTimer = 0;
    this.zoneSlot = null;
    this.indexPage();
  }

  /** Find every widget and tile the server rendered and draw the figures. */
  indexPage() {
    for (const spec of this.config.widgets) {
      const el = this.root.getElementById(`w-${spec.id}`);
      if (!el) continue;
      const figureEl = el.querySelector(".figure");
      const figure = this.config.figures[spec.id] || null;
      // `wrap`: the wall board holding it (hidden boards are redrawn when shown, not on every update).
      const widget = { spec, el, figureEl, figure, revision: 0, series: new Map(), wrap: el.closest(".board-wrap"), plotted: false,
        drawnAt: 0, tileEls: [], state: el.dataset.state || "unknown", gaps: [] };
      if (figure && figureEl && window.Plotly) {
        // Fixed sizes: with autosize Plotly measures the element (a forced layout) on every redraw.
        figure.layout.autosize = false;
        this.sizeFigure(widget);
        if (widget.state === "stale") this.styleFigure(widget);
        // A chart's STALE mark sits on the chart itself (a KPI's under its number: its sparkline is too flat to hold it).
        const mark = el.querySelector(".stale-mark");
        if (mark && spec.type !== "kpi") figureEl.append(mark);
        window.Plotly.newPlot(figureEl, figure.data, figure.layout, { displayModeBar: false, responsive: false, staticPlot: !!this.config.wall });
        if (spec.type === "line" || spec.type === "kpi") this.indexSeries(widget);
        widget.plotted = true;
        this.widgets.push(widget);
      }
      for (const stat of spec.statistics) {
        if (!this.widgetsByKey.has(stat.key)) this.widgetsByKey.set(stat.key, []);
        this.widgetsByKey.get(stat.key).push(widget);
      }
      for (const tileEl of el.querySelectorAll("[data-statistic]")) {
        const key = tileEl.dataset.statistic;
        if (!this.tilesByKey.has(key)) this.tilesByKey.set(key, []);
        this.tilesByKey.get(key).push({ el: tileEl, widget, stat: spec.statistics.find((s) => s.key === key) });
        widget.tileEls.push(tileEl);
        const initial = this.config.values[key];
        if (initial) this.values.set(key, initial);
        if (tileEl.dataset.threshold) this.levels.set(`${spec.id}:${key}`, tileEl.dataset.threshold);
      }
    }
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
    const now = Date.now() + this.clockOffset;
    // One offset for both ends (the cached one of now): a window spanning a DST change is
    // off by the change at its far end, where looking up a second offset would thrash the cache.
    const offset = this.zoneOffset(now);
    return [now - spec.history_minutes * 60000 + offset, now + offset];
  }

  /** Queue a redraw of every line chart and sparkline, so its window and its held last value keep up with the clock. */
  slideLines() {
    for (const widget of this.widgets) if (widget.plotted && widget.series.size) this.unDrawn.add(widget);
    this.drawFigures();
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
    if (!this.config.wall) return DESK_FONT_PX;
    return Math.max(12, WALL_FONT_UNITS * wallUnit(window.innerWidth, window.innerHeight, this.textScale));
  }

  /** A board became visible: size its figures and catch up on the updates they missed. */
  showFigures(wrap) {
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

  // ---- socket ----

  connect() {
    this.setBanner(this.everLive ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${this.config.wsPath}`);
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.socketOpen = true;
      this.lastFrameAt = Date.now();
      this.ping();
    };
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.receive(frame);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      if (event.code === SIGNED_OUT && !this.config.wall) this.refuse("signed out");
      else if ((event.code === FORBIDDEN || event.code === GONE) && !this.config.wall) this.refuse("no access");
      else if (event.code === FORBIDDEN) this.refuse();
      else this.dropSocket();
    };
  }

  /** The link is gone: mark everything stale now and retry with capped backoff. */
  dropSocket() {
    const socket = this.socket;
    this.socket = null;
    this.socketOpen = false;
    this.seqs.clear();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      try { socket.close(); } catch { /* already closed */ }
    }
    this.setBanner(this.everLive ? "reconnecting" : "connecting");
    this.markAll();
    const delay = backoffDelay(this.attempt++, this.config.backoffBaseMs, this.config.backoffCapMs);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** The server refused this page (wall link revoked, access removed): stop, and say so. */
  refuse(state = "refused") {
    this.refused = true;
    this.socket = null;
    this.socketOpen = false;
    this.seqs.clear();
    clearInterval(this.tickTimer);
    this.setBanner(state);
    this.markAll();
    // A desk that lost its session or access shows no data at all, not stale data.
    if (state !== "refused") for (const board of this.root.querySelectorAll(".board")) board.style.display = "none";
  }

  send(message) {
    if (this.socket && this.socketOpen) this.socket.send(JSON.stringify(message));
  }

  ping() {
    this.send({ type: "ping", t: Date.now() });
  }

  receive(frame) {
    switch (frame.type) {
      case "snapshot":
      case "batch":
      case "status":
        return this.receiveDashboardFrame(frame);
      case "pong": {
        const now = Date.now();
        if (typeof frame.t === "number") this.latency = now - frame.t;
        if (typeof frame.server_time === "number") this.clockOffset = frame.server_time + (this.latency || 0) / 2 - now;
        return;
      }
      case "reload":
        return this.softReload(frame.reason || "server");
      default:
        return;
    }
  }

  receiveDashboardFrame(frame) {
    const slug = frame.dashboard;
    const action = seqAction(this.seqs.get(slug), frame);
    if (action === "ignore") return;
    if (action === "resync") {
      this.seqs.delete(slug);
      this.send({ type: "resync" });
      return;
    }
    if (frame.type === "snapshot" && this.config.wall && !this.root.querySelector(`.board-wrap[data-dashboard="${slug}"]`)) {
      this.softReload("playlist changed"); // a dashboard this page was not rendered with
      return;
    }
    this.seqs.set(slug, frame.seq);
    if (frame.type === "snapshot") {
      this.attempt = 0;
      this.everLive = true;
    }
    if (frame.connection) this.connections.set(slug, frame.connection);
    for (const [key, value] of Object.entries(frame.values || {})) {
      this.values.set(key, value);
      this.pending.add(key);
    }
    if (frame.connection) this.markAll();
    this.updateBanner();
    this.requestFrame();
  }

  // ---- state and rendering ----

  /** Why values cannot be trusted right now, or "" when they can. */
  linkProblem() {
    if (!this.socketOpen || this.seqs.size === 0) return "socket";
    if (Date.now() - this.lastFrameAt > STALE_AFTER_SILENCE_MS) return "silence";
    let worst = "";
    for (const connection of this.connections.values()) {
      const problem = upstreamProblem(connection);
      if (problem === "down") return "upstream down";
      if (problem) worst = "upstream reconnecting";
    }
    return worst;
  }

  updateBanner() {
    if (this.refused) return;
    const problem = this.linkProblem();
    if (problem === "upstream down") this.setBanner("upstream down");
    else if (problem === "upstream reconnecting") this.setBanner("reconnecting");
    else if (problem) this.setBanner(this.everLive ? "reconnecting" : "connecting");
    else {
      const polling = pollingText(this.connections.values());
      this.setBanner(polling ? "polling" : "live", polling || "live");
    }
  }

  setBanner(state, text = state) {
    const banner = this.root.getElementById("connection-banner");
    if (!banner || (banner.dataset.state === state && banner.dataset.text === text)) return;
    banner.dataset.state = state;
    banner.dataset.text = text;
    banner.querySelector(".banner-text").textContent = text;
  }

  markAll() {
    for (const key of this.tilesByKey.keys()) this.pending.add(key);
    this.requestFrame();
  }

  requestFrame() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    // Background tabs get no animation frames; a timer keeps tile state right there.
    const run = () => {
      if (!this.frameRequested) return;
      this.frameRequested = false;
      this.flush();
    };
    requestAnimationFrame(run);
    setTimeout(run, 250);
  }

  /** Apply every pending change: tiles now, figures as drawFigures allows. */
  flush() {
    const keys = [...this.pending];
    this.pending.clear();
    const lost = this.linkProblem() !== "";
    const touched = new Set();
    for (const key of keys) {
      const value = this.values.get(key);
      for (const tile of this.tilesByKey.get(key) || []) this.renderTile(tile, value, lost);
      for (const widget of this.widgetsByKey.get(key) || []) {
        touched.add(widget);
        this.extendSeries(widget, key, value);
        if (widget.plotted) this.unDrawn.add(widget);
      }
    }
    for (const widget of touched) this.renderWidgetState(widget);
    this.drawFigures();
  }

  /** Redraw the figures that are behind, each at most once per FIGURE_INTERVAL_MS; hidden boards wait to be shown. */
  drawFigures() {
    const now = performance.now();
    let next = Infinity;
    for (const widget of this.unDrawn) {
      if (widget.wrap && widget.wrap.hidden) continue;
      const due = widget.drawnAt + FIGURE_INTERVAL_MS;
      if (due <= now) this.redraw(widget);
      else next = Math.min(next, due);
    }
    if (next < Infinity && !this.figureTimer) {
      this.figureTimer = setTimeout(() => {
        this.figureTimer = 0;
        this.requestFrame();
      }, next - now);
    }
  }

  /** Mark a widget fresh, stale or unknown (the worst of its tiles), and on a change to or
   *  from stale break its lines there: a stale stretch is a shaded gap, not a line. */
  renderWidgetState(widget) {
    const state = widgetState(widget.tileEls.map((el) => el.dataset.state));
    if (state === widget.state) return;
    const was = widget.state;
    widget.state = state;
    setData(widget.el, "state", state);
    const now = Date.now() + this.clockOffset;
    if (state === "stale") {
      for (const series of widget.series.values()) this.breakSeries(series, now);
      widget.gaps.push({ from: now, to: null });
      if (widget.gaps.length > MAX_GAPS) widget.gaps.shift();
    } else if (was === "stale") {
      const gap = widget.gaps[widget.gaps.length - 1];
      if (gap && gap.to === null) gap.to = now;
      // The line resumes at the current value from now on (its reading may predate the gap).
      for (const [key, series] of widget.series) this.resumeSeries(series, numeric(this.values.get(key)), now);
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

  renderTile(tile, value, lost) {
    const { el, widget, stat } = tile;
    const spec = widget.spec;
    const number = numeric(value);
    let state = !value || value.kind === "unknown" ? "unknown" : value.state || "unknown";
    if (lost && state === "fresh") state = "stale";
    const levelKey = `${spec.id}:${stat.key}`;
    const limits = stat.thresholds || spec; // a statistic's own thresholds (a table's column), else the widget's
    const level = levelFor(number, limits.warning, limits.critical, limits.direction, limits.hysteresis, this.levels.get(levelKey));
    this.levels.set(levelKey, level);
    const text = displayText(value, spec.format, this.config.agentStates);
    const cue = cueFor(level, limits.direction);
    // Unchanged attributes are not rewritten: each write re-matches the [data-*] style rules.
    setData(el, "value", number === null ? "" : String(number));
    setData(el, "state", state);
    if (setData(el, "threshold", level)) el.style.setProperty("--level-color", PALETTE[level]);
    setText(el, ".tile-value", text);
    setText(el, ".cue-icon", cue.icon);
    setText(el, ".cue-text", cue.text);
    const asOf = value ? value.timestamp || value.received : null;
    setData(el, "asOf", asOf ? String(asOf) : "");
    if (value && value.kind === "agent_state") this.renderAgent(el, value.agent || {});
    // A drill-down tile is a link: its name says where it goes (as figures.tile words it).
    const opens = spec.drilldown && el.tagName === "A" ? ` (opens ${spec.drilldown.title})` : "";
    let label = `${stat.label}${opens}: ${text}`;
    if (spec.unit && number !== null) label += ` ${spec.unit}`;
    if (cue.text) label += `, ${cue.text}`;
    if (state === "stale") label += ", stale";
    else if (state === "unknown") label += ", no data";
    if (el.getAttribute("aria-label") !== label) el.setAttribute("aria-label", label);
    this.renderAge(el);
  }

  renderAgent(el, agent) {
    const style = (this.config.agentStates || {})[agent.state] || { color: "#999999", icon: "?" };
    if (setData(el, "agentState", agent.state || "Unknown")) el.style.setProperty("--agent-color", style.color);
    setData(el, "since", agent.since ? String(agent.since) : "");
    setText(el, ".agent-icon", style.icon);
    setText(el, ".agent-reason", agent.reason || "");
  }

  /** Append a live point to a line/sparkline: one point per slot of its window, none older than it. */
  extendSeries(widget, key, value) {
    const series = widget.series.get(key);
    const number = numeric(value);
    if (!series || number === null) return;
    const at = value.timestamp || value.received || Date.now();
    const { trace, times } = series;
    if (times.length && at <= times[times.length - 1]) return;
    if (widget.state === "stale" && !(value.state === "fresh" && this.linkProblem() === "")) return; // inside a gap
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

  /** Recompute a figure's live parts and hand it to Plotly.react (drawFigures paces the calls). */
  redraw(widget) {
    const { spec, figure, figureEl } = widget;
    if (!widget.plotted) return;
    const tiles = spec.statistics.map((s) => ({ stat: s, value: this.values.get(s.key), level: this.levels.get(`${spec.id}:${s.key}`) || "none" }));
    const trace = figure.data[0];
    if (spec.type === "gauge" && tiles[0]) {
      const number = numeric(tiles[0].value);
      trace.value = number === null ? 0 : number;
      trace.gauge.bar.color = PALETTE[tiles[0].level];
      if (number !== null && number > trace.gauge.axis.range[1]) trace.gauge.axis.range = [0, number * 1.25];
    } else if (spec.type === "bar") {
      trace.y = tiles.map((t) => numeric(t.value));
      trace.text = tiles.map((t) => displayText(t.value, spec.format, this.config.agentStates));
      trace.marker.color = tiles.map((t) => PALETTE[t.level]);
    } else if (spec.type === "donut") {
      this.donutSlices(trace, tiles);
    } else if (spec.type === "kpi" && tiles[0]) {
      trace.line.color = PALETTE[tiles[0].level];
    }
    this.styleFigure(widget);
    if (spec.type === "line" || spec.type === "kpi") {
      const now = Date.now() + this.clockOffset;
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
    const agentStates = this.config.agentStates || {};
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

  renderAge(el) {
    const asOf = Number(el.dataset.asOf);
    const now = Date.now() + this.clockOffset;
    setText(el, ".tile-age", ageWords(el.dataset.state, asOf, now, (ms) => this.clock.format(new Date(ms))));
    const since = Number(el.dataset.since);
    if (since) setText(el, ".agent-time", clockText(now - since));
  }

  // ---- clocks ----

  /** Every 500 ms: socket watchdog, ages and time in state, wall schedule. */
  tick() {
    const now = Date.now();
    if (this.socketOpen) {
      const silent = now - this.lastFrameAt;
      if (silent > RECONNECT_AFTER_SILENCE_MS) this.dropSocket();
      else if (silent > STALE_AFTER_SILENCE_MS && !this.silenceMarked) {
        this.silenceMarked = true;
        this.markAll();
      } else if (silent <= STALE_AFTER_SILENCE_MS && this.silenceMarked) {
        this.silenceMarked = false;
        this.markAll();
      }
    }
    this.updateBanner();
    if (now - (this.lastSlideAt || 0) >= LINE_SLIDE_MS) {
      this.lastSlideAt = now;
      this.slideLines();
    }
    if (now - (this.lastPingAt || 0) >= 1000) {
      this.lastPingAt = now;
      this.ping();
    }
    for (const tiles of this.tilesByKey.values()) for (const tile of tiles) this.renderAge(tile.el);
  }

  start() {
    this.connect();
    this.tickTimer = setInterval(() => this.tick(), 500);
    this.watchResize();
    return this;
  }

  // ---- walls ----

  /** Reload the page, but only when the server answers: a TV must never land on an error page. */
  async softReload(reason) {
    if (this.reloading) return;
    this.reloading = true;
    try {
      const probe = await fetch(location.href, { method: "HEAD", cache: "no-store" });
      if (probe.ok) {
        console.info(`soft reload: ${reason}`);
        location.reload();
        return;
      }
    } catch { /* server unreachable: keep showing what we have */ }
    this.reloading = false;
  }
}

function setText(root, selector, text) {
  const el = root.querySelector(selector);
  if (el && el.textContent !== text) el.textContent = text;
}

/** Set `el.dataset[name]` unless it already holds `value`; true when it changed. */
function setData(el, name, value) {
  if (el.dataset[name] === value) return false;
  el.dataset[name] = value;
  return true;
}

/** Rotation, night schedule, quiet-hour reload, memory watchdog and telemetry of a wall. */
export class Wall {
  constructor(page, wall, root = document) {
    this.page = page;
    this.wall = wall;
    this.root = root;
    this.boards = [...root.querySelectorAll(".board-wrap")];
    this.current = 0;
  }

  start() {
    this.show(0);
    if (this.boards.length > 1) this.rotateTimer = setInterval(() => this.show(this.current + 1), this.wall.seconds * 1000);
    this.lastReport = 0;
    this.scheduleTimer = setInterval(() => this.checkSchedule(), 1000);
    this.checkSchedule();
    return this;
  }

  show(index) {
    this.current = ((index % this.boards.length) + this.boards.length) % this.boards.length;
    this.boards.forEach((board, i) => {
      board.hidden = i !== this.current;
    });
    const board = this.boards[this.current];
    document.body.dataset.board = board.dataset.dashboard;
    this.page.showFigures(board);
  }

  memoryMb() {
    const memory = performance.memory;
    return memory ? memory.usedJSHeapSize / 1048576 : null;
  }

  checkSchedule() {
    const now = Date.now() + this.page.clockOffset;
    const minutes = localMinutes(now, this.page.timeZone);
    const night = inNight(minutes, this.wall.nightStart, this.wall.nightEnd);
    document.body.dataset.night = night ? this.wall.nightMode : "";
    const uptime = Date.now() - this.page.startedAt;
    // Once a day, in the quiet hour, after at least an hour of uptime.
    if (this.wall.reloadHour !== null && Math.floor(minutes / 60) === this.wall.reloadHour && uptime > 3600000) {
      this.page.softReload("quiet hour");
    }
    const memory = this.memoryMb();
    if (memory !== null && memory > this.wall.memoryLimitMb && uptime > MEMORY_GRACE_MS) this.page.softReload(`memory ${memory.toFixed(0)} MB`);
    // Report as soon as the socket is up, then every telemetrySeconds.
    if (this.page.socketOpen && Date.now() - this.lastReport >= this.wall.telemetrySeconds * 1000) {
      this.lastReport = Date.now();
      this.report();
    }
  }

  report() {
    this.page.send({ type: "telemetry", version: this.wall.version, memory: this.memoryMb(), latency: this.page.latency });
  }
}

/** Start the page described by the JSON config in #dash-config. */
export function boot() {
  const config = JSON.parse(document.getElementById("dash-config").textContent);
  const page = new LivePage(config).start();
  const wall = config.wall ? new Wall(page, config.wall).start() : null;
  window.dashboardPage = page; // for tests and for poking at it from the console
  window.dashboardWall = wall;
  return { page, wall };
}

/** Draw server-rendered figures once, without a socket (the history view). */
export function drawStatic(figures) {
  for (const [id, figure] of Object.entries(figures)) {
    const el = document.querySelector(`#w-${id} .figure`);
    if (el && window.Plotly) window.Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
  }
}
