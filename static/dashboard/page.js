// One live page (a desk dashboard or a wall): wires the socket link, the value store, the
// tiles and the figures together, and owns what belongs to the page as a whole: the
// connection banner, the 500 ms clock, and the soft reload.

import { AlertBanner } from "./alerts.js";
import { Figures, Widget } from "./figures.js";
import { Link, ServerClock, pollingText } from "./socket.js";
import { Store } from "./store.js";
import { Tiles } from "./tiles.js";

// A line chart's window slides to "now" this often even when no value changes, so a
// quiet spell still reads as "last 15 min" (sparklines move only with their values).
const LINE_SLIDE_MS = 10000;
const TICK_MS = 500;

/** Keeps one page (a desk dashboard or a wall) live. */
export class LivePage {
  config;
  root;
  timeZone;
  startedAt = Date.now();
  serverClock = new ServerClock();
  store;
  tiles;
  figures;
  link;
  tickTimer = 0;
  lastSlideAt = 0;
  reloading = false; // a soft reload is probing the server
  alerts;

  constructor(config, root = document) {
    this.config = config;
    this.root = root;
    this.timeZone = config.timeZone || "UTC";
    this.store = new Store(() => this.flush());
    this.tiles = new Tiles(this.store, this.serverClock, config.agentStates, this.timeZone);
    this.figures = new Figures({
      config, timeZone: this.timeZone, store: this.store, clock: this.serverClock,
      requestFrame: () => this.store.requestFrame(), linkSound: () => this.link.problem() === "",
    });
    this.link = new Link(config, this.serverClock, {
      banner: (state) => this.setBanner(state),
      trustChanged: () => this.markAll(),
      refused: (state) => this.refuse(state),
      reload: (reason) => this.softReload(reason),
      accept: (frame) => this.accept(frame),
      frame: (frame) => this.apply(frame),
      alerts: (frame) => this.alerts.apply(frame),
    });
    this.alerts = new AlertBanner(root, { wall: Boolean(config.wall) });
    this.indexPage();
  }

  /** Find every widget and tile the server rendered and draw the figures. */
  indexPage() {
    for (const spec of this.config.widgets) {
      const el = this.root.getElementById(`w-${spec.id}`);
      if (!el) continue;
      const widget = new Widget(spec, el, this.config.figures[spec.id] || null);
      this.figures.add(widget);
      this.tiles.add(widget, this.config.values);
    }
  }

  /** Whether to apply a dashboard frame: a wall reloads instead for a dashboard it was not rendered with. */
  accept(frame) {
    if (frame.type === "snapshot" && this.config.wall && !this.root.querySelector(`.board-wrap[data-dashboard="${frame.dashboard}"]`)) {
      this.softReload("playlist changed");
      return false;
    }
    return true;
  }

  /** An applied dashboard frame: store its values, render them on the next animation frame. */
  apply(frame) {
    for (const [key, value] of Object.entries(frame.values || {})) this.store.set(key, value);
    if (frame.connection) this.markAll();
    this.updateBanner();
    this.store.requestFrame();
  }

  /** The server refused this page (wall link revoked, access removed): stop, and say so. */
  refuse(state) {
    clearInterval(this.tickTimer);
    this.setBanner(state);
    this.markAll();
    // A desk that lost its session or access shows no data at all, not stale data.
    if (state !== "refused") for (const board of this.root.querySelectorAll(".board")) board.style.display = "none";
  }

  updateBanner() {
    if (this.link.refused) return;
    const problem = this.link.problem();
    if (problem === "upstream down") this.setBanner("upstream down");
    else if (problem === "upstream reconnecting") this.setBanner("reconnecting");
    else if (problem) this.setBanner(this.link.everLive ? "reconnecting" : "connecting");
    else {
      const polling = pollingText(this.link.connections.values());
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

  /** Re-render every tile on the next frame (the link's trust in the values changed). */
  markAll() {
    for (const key of this.tiles.keys()) this.store.pending.add(key);
    this.store.requestFrame();
  }

  /** Apply every pending change: tiles now, figures as Figures.draw allows. */
  flush() {
    const keys = this.store.take();
    const lost = this.link.problem() !== "";
    const touched = new Set();
    for (const key of keys) {
      const value = this.store.values.get(key);
      this.tiles.render(key, value, lost);
      for (const widget of this.figures.widgetsFor(key)) {
        touched.add(widget);
        this.figures.update(widget, key, value);
      }
    }
    for (const widget of touched) {
      const was = this.tiles.renderWidgetState(widget);
      if (was !== null) this.figures.stateChanged(widget, was);
    }
    this.figures.draw();
  }

  /** Every 500 ms: socket watchdog, ages and time in state, sliding line windows. */
  tick() {
    const now = Date.now();
    this.link.watch(now);
    this.updateBanner();
    if (now - this.lastSlideAt >= LINE_SLIDE_MS) {
      this.lastSlideAt = now;
      this.figures.slide();
    }
    this.link.keepAlive(now);
    this.tiles.renderAges();
  }

  start() {
    this.link.connect();
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
    this.figures.watchResize();
    return this;
  }

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
