// Tiles and widget states: each tile's number, threshold colour and cue, fresh/stale/unknown
// state, age line, agent state and accessible name, and each widget's state (the worst of
// its tiles'). The HTML the server rendered is updated in place, attribute by attribute.

import { displayText, formatNumber, numeric } from "./formatting.js";
import { PALETTE, cueFor, levelFor } from "./thresholds.js";

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

/** Every tile of a page, by statistic key, and the rendering of tiles and widget states. */
export class Tiles {
  byKey = new Map(); // statistic key -> [{ el, widget, stat }]
  store;
  clock; // ServerClock
  agentStates;
  timeFormat; // "HH:MM" in the page's time zone, for "last known"

  constructor(store, clock, agentStates, timeZone) {
    this.store = store;
    this.clock = clock;
    this.agentStates = agentStates;
    this.timeFormat = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  /** Index a widget's server-rendered tiles; the values and levels they were rendered with go to the store. */
  add(widget, initialValues) {
    const spec = widget.spec;
    for (const tileEl of widget.el.querySelectorAll("[data-statistic]")) {
      const key = tileEl.dataset.statistic;
      if (!this.byKey.has(key)) this.byKey.set(key, []);
      this.byKey.get(key).push({ el: tileEl, widget, stat: spec.statistics.find((s) => s.key === key) });
      widget.tileEls.push(tileEl);
      const initial = initialValues[key];
      if (initial) this.store.values.set(key, initial);
      if (tileEl.dataset.threshold) this.store.levels.set(`${spec.id}:${key}`, tileEl.dataset.threshold);
    }
  }

  keys() {
    return this.byKey.keys();
  }

  /** Render every tile of `key` with `value`; `lost`: the link cannot vouch for fresh values. */
  render(key, value, lost) {
    for (const tile of this.byKey.get(key) || []) this.renderTile(tile, value, lost);
  }

  renderTile(tile, value, lost) {
    const { el, widget, stat } = tile;
    const spec = widget.spec;
    const number = numeric(value);
    let state = !value || value.kind === "unknown" ? "unknown" : value.state || "unknown";
    if (lost && state === "fresh") state = "stale";
    const levelKey = `${spec.id}:${stat.key}`;
    const limits = stat.thresholds || spec; // a statistic's own thresholds (a table's column), else the widget's
    const level = levelFor(number, limits.warning, limits.critical, limits.direction, limits.hysteresis, this.store.levels.get(levelKey));
    this.store.levels.set(levelKey, level);
    const text = displayText(value, spec.format, this.agentStates);
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
    const style = (this.agentStates || {})[agent.state] || { color: "#999999", icon: "?" };
    if (setData(el, "agentState", agent.state || "Unknown")) el.style.setProperty("--agent-color", style.color);
    setData(el, "since", agent.since ? String(agent.since) : "");
    setText(el, ".agent-icon", style.icon);
    setText(el, ".agent-reason", agent.reason || "");
  }

  renderAge(el) {
    const asOf = Number(el.dataset.asOf);
    const now = this.clock.now();
    setText(el, ".tile-age", ageWords(el.dataset.state, asOf, now, (ms) => this.timeFormat.format(new Date(ms))));
    const since = Number(el.dataset.since);
    if (since) setText(el, ".agent-time", clockText(now - since));
  }

  /** Every tile's age line and time in state (they move with the clock, not with values). */
  renderAges() {
    for (const tiles of this.byKey.values()) for (const tile of tiles) this.renderAge(tile.el);
  }

  /** Mark a widget fresh, stale or unknown (the worst of its tiles); the state it had when that changed, else null. */
  renderWidgetState(widget) {
    const state = widgetState(widget.tileEls.map((el) => el.dataset.state));
    if (state === widget.state) return null;
    const was = widget.state;
    widget.state = state;
    setData(widget.el, "state", state);
    return was;
  }
}
