// Live dashboards and walls: one small module, no framework.
//
// The page arrives rendered by the server (figures, tiles, values). This module keeps
// it live: one WebSocket with capped-backoff reconnect, a snapshot on every
// (re)connect, a resync on a sequence gap, updates batched per animation frame, tiles
// marked STALE within 2 s of losing the upstream, the bridge or the socket. Everything
// it keeps is bounded (latest value per statistic, capped line series), so memory does
// not grow with uptime. Pure helpers are exported and mirrored by dashboard/*.py.

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

/** The number a wire value carries, or null (mirror of formatting.numeric). */
export function numeric(value) {
  if (!value || value.kind === "unknown" || value.kind === "agent_state" || !value.kind) return null;
  return typeof value.value === "number" && Number.isFinite(value.value) ? value.value : null;
}

/** Format a number (mirror of formatting.format_number). */
export function formatNumber(number, fmt) {
  if (fmt === "duration") {
    const total = Math.round(number);
    const sign = total < 0 ? "-" : "";
    const abs = Math.abs(total);
    const hours = Math.floor(abs / 3600);
    const minutes = Math.floor((abs % 3600) / 60);
    const seconds = abs % 60;
    const two = (n) => String(n).padStart(2, "0");
    return hours ? `${sign}${hours}:${two(minutes)}:${two(seconds)}` : `${sign}${minutes}:${two(seconds)}`;
  }
  if (fmt === "percent") return `${number.toFixed(1)}%`;
  if (Number.isInteger(number)) return String(number);
  return number.toFixed(1);
}

const KIND_FORMAT = { duration: "duration", percentage: "percent", number: "number" };

/** What a tile shows (mirror of formatting.display_text). */
export function displayText(value, fmt) {
  if (!value || value.kind === "unknown") return "?";
  if (value.kind === "agent_state") return (value.agent && value.agent.state) || "?";
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
const RECONNECT_AFTER_SILENCE_MS = 5000;
const FORBIDDEN = 4403; // close code of a refused socket (dashboard/consumers.py)
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
    this.widgets = [];
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
      const widget = { spec, figureEl, figure, revision: 0, series: new Map(), wrap: el.closest(".board-wrap"), plotted: false, drawnAt: 0 };
      if (figure && figureEl && window.Plotly) {
        // Fixed sizes: with autosize Plotly measures the element (a forced layout) on every redraw.
        figure.layout.autosize = false;
        this.sizeFigure(widget);
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
      // x is local wall-clock ms; the offset at x itself is off only within an hour of a DST change.
      const times = trace.x.map((x) => x - this.zoneOffset(x));
      widget.series.set(stat.key, { trace, times });
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

  /** Queue a redraw of every line chart, so its window keeps up with the clock. */
  slideLines() {
    for (const widget of this.widgets) if (widget.plotted && widget.spec.type === "line") this.unDrawn.add(widget);
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

  /** Give a figure its element's size; true when that changed (a hidden element keeps the old size). */
  sizeFigure(widget) {
    const { figureEl, figure } = widget;
    const width = figureEl.clientWidth;
    const height = figureEl.clientHeight;
    if (!width || !height || (figure.layout.width === width && figure.layout.height === height)) return false;
    figure.layout.width = width;
    figure.layout.height = height;
    return true;
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
      if (event.code === FORBIDDEN) this.refuse();
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
  refuse() {
    this.refused = true;
    this.socket = null;
    this.socketOpen = false;
    this.seqs.clear();
    clearInterval(this.tickTimer);
    this.setBanner("refused");
    this.markAll();
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
    for (const key of keys) {
      const value = this.values.get(key);
      for (const tile of this.tilesByKey.get(key) || []) this.renderTile(tile, value, lost);
      for (const widget of this.widgetsByKey.get(key) || []) {
        this.extendSeries(widget, key, value);
        if (widget.plotted) this.unDrawn.add(widget);
      }
    }
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

  renderTile(tile, value, lost) {
    const { el, widget, stat } = tile;
    const spec = widget.spec;
    const number = numeric(value);
    let state = !value || value.kind === "unknown" ? "unknown" : value.state || "unknown";
    if (lost && state === "fresh") state = "stale";
    const levelKey = `${spec.id}:${stat.key}`;
    const level = levelFor(number, spec.warning, spec.critical, spec.direction, spec.hysteresis, this.levels.get(levelKey));
    this.levels.set(levelKey, level);
    const text = displayText(value, spec.format);
    const cue = cueFor(level, spec.direction);
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
    const windowMs = widget.spec.history_minutes * 60000;
    const x = at + this.zoneOffset(at);
    if (sameSlot(times, at, Math.max(1, Math.floor(windowMs / MAX_SERIES_POINTS)))) {
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
      trace.text = tiles.map((t) => displayText(t.value, spec.format));
      trace.marker.color = tiles.map((t) => PALETTE[t.level]);
    } else if (spec.type === "donut") {
      this.donutSlices(trace, tiles);
    } else if (spec.type === "kpi" && tiles[0]) {
      trace.line.color = PALETTE[tiles[0].level];
    }
    if (spec.type === "line" || spec.type === "kpi") figure.layout.xaxis.range = this.timeWindow(spec);
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
      const labels = [...counts.keys()].sort();
      trace.labels = labels;
      trace.values = labels.map((l) => counts.get(l));
      trace.marker.colors = labels.map((l) => (agentStates[l] || { color: "#999999" }).color);
    } else {
      trace.values = tiles.map((t) => numeric(t.value) || 0);
    }
  }

  renderAge(el) {
    const asOf = Number(el.dataset.asOf);
    const now = Date.now() + this.clockOffset;
    setText(el, ".tile-age", asOf ? `as of ${ageText(now - asOf)} ago` : "no data yet");
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
  return { page, wall };
}

/** Draw server-rendered figures once, without a socket (the history view). */
export function drawStatic(figures) {
  for (const [id, figure] of Object.entries(figures)) {
    const el = document.querySelector(`#w-${id} .figure`);
    if (el && window.Plotly) window.Plotly.newPlot(el, figure.data, figure.layout, { displayModeBar: false, responsive: true });
  }
}
