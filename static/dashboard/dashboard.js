// Live dashboards and walls: the entry the pages import (`boot`, `drawStatic`), as native
// ES modules with no build step and no framework.
//
// The page arrives rendered by the server (figures, tiles, values). These modules keep it
// live: one WebSocket with capped-backoff reconnect, a snapshot on every (re)connect, a
// resync on a sequence gap, updates batched per animation frame, tiles marked STALE within
// 2 s of losing the upstream, the bridge or the socket. Everything kept is bounded (latest
// value per statistic, capped line series), so memory does not grow with uptime.
//
//   formatting.js  display text, the mirror of statsbridge/formatting.py
//   thresholds.js  threshold levels, colours and cues, the mirror of dashboard/thresholds.py
//   socket.js      the WebSocket link: reconnect, ping and server clock, seq and resync
//   store.js       latest values and levels, per-frame batching
//   tiles.js       tile and widget state rendering
//   figures.js     Plotly figures: series, stale gaps, paced redraws, sizing
//   wall.js        a wall's rotation, schedule, quiet-hour reload, memory watchdog, telemetry
//   alerts.js      the alert banner (open alerts, acknowledge links, optional sound on desks)
//   page.js        LivePage, which wires link, store, tiles and figures for one page
//
// The pure helpers are re-exported here for tests/dashboard (run in node).

import { LivePage } from "./page.js";
import { Wall } from "./wall.js";

export { cueFor, levelFor, PALETTE } from "./thresholds.js";
export { decimalText, displayText, durationText, formatNumber, numeric, stateLabel } from "./formatting.js";
export { backoffDelay, pollingText, seqAction, upstreamProblem } from "./socket.js";
export { ageText, ageWords, clockText, widgetState } from "./tiles.js";
export { drawStatic, fitFigure, localMs, sameSlot, wallUnit, zoneOffsetMs } from "./figures.js";
export { inNight, localMinutes, Wall } from "./wall.js";
export { alertsToShow } from "./alerts.js";
export { LivePage };

/** Start the page described by the JSON config in #dash-config. */
export function boot() {
  const config = JSON.parse(document.getElementById("dash-config").textContent);
  const page = new LivePage(config).start();
  const wall = config.wall ? new Wall(page, config.wall).start() : null;
  window.dashboardPage = page; // for tests and for poking at it from the console
  window.dashboardWall = wall;
  return { page, wall };
}
