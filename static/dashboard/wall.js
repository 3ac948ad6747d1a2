// A wall (an unattended TV): board rotation, the night schedule, the once-a-day reload in
// its quiet hour, the memory watchdog, and the telemetry it reports to the fleet view.

// The first minute after a load can still count the previous document's heap, not yet
// collected: the memory watchdog waits it out, or each reload would trigger the next.
const MEMORY_GRACE_MS = 60000;
const QUIET_HOUR_MIN_UPTIME_MS = 3600000;

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

/** Rotation, night schedule, quiet-hour reload, memory watchdog and telemetry of a wall. */
export class Wall {
  page; // the LivePage it rotates and reloads
  wall; // the config's wall settings
  root;
  boards;
  current = 0; // index of the board shown
  rotateTimer = 0;
  scheduleTimer = 0;
  lastReport = 0; // Date.now() of the last telemetry

  constructor(page, wall, root = document) {
    this.page = page;
    this.wall = wall;
    this.root = root;
    this.boards = [...root.querySelectorAll(".board-wrap")];
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
    this.page.figures.show(board);
  }

  memoryMb() {
    const memory = performance.memory;
    return memory ? memory.usedJSHeapSize / 1048576 : null;
  }

  checkSchedule() {
    const now = this.page.serverClock.now();
    const minutes = localMinutes(now, this.page.timeZone);
    const night = inNight(minutes, this.wall.nightStart, this.wall.nightEnd);
    document.body.dataset.night = night ? this.wall.nightMode : "";
    const uptime = Date.now() - this.page.startedAt;
    // Once a day, in the quiet hour, after at least an hour of uptime.
    if (this.wall.reloadHour !== null && Math.floor(minutes / 60) === this.wall.reloadHour && uptime > QUIET_HOUR_MIN_UPTIME_MS) {
      this.page.softReload("quiet hour");
    }
    const memory = this.memoryMb();
    if (memory !== null && memory > this.wall.memoryLimitMb && uptime > MEMORY_GRACE_MS) this.page.softReload(`memory ${memory.toFixed(0)} MB`);
    // Report as soon as the socket is up, then every telemetrySeconds.
    if (this.page.link.open && Date.now() - this.lastReport >= this.wall.telemetrySeconds * 1000) {
      this.lastReport = Date.now();
      this.report();
    }
  }

  report() {
    this.page.link.send({ type: "telemetry", version: this.wall.version, memory: this.memoryMb(), latency: this.page.serverClock.latency });
  }
}
