// The page's WebSocket: connection, capped-backoff reconnect, ping and server clock offset,
// sequence numbers and resync, and what the link says about the values' trustworthiness.
//
// `Link` holds only connection state; what the page does with frames and with a lost or
// refused link it is told through the `hooks` the page hands in (page.js).

// No frame at all for this long: treat the link as cut (values turn stale).
const STALE_AFTER_SILENCE_MS = 1800;
const RECONNECT_AFTER_SILENCE_MS = 5000;
const PING_INTERVAL_MS = 1000;
const FORBIDDEN = 4403; // close code of a refused socket (dashboard/consumers.py)
// A desk's session ended (logout in any tab, deactivation) or its access or dashboard went:
// the page stops and says so instead of showing data (dashboard/consumers.py, issue 15).
const SIGNED_OUT = 4401;
const GONE = 4404;

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

/** The server's time as this page knows it from its pongs (ages, chart windows, the wall's schedule). */
export class ServerClock {
  offset = 0; // server time - local time
  latency = null; // round trip of the last answered ping, ms

  /** Server time now, in epoch-ms. */
  now() {
    return Date.now() + this.offset;
  }

  /** Learn latency and offset from a pong (half the round trip is the way back). */
  pong(frame) {
    const now = Date.now();
    if (typeof frame.t === "number") this.latency = now - frame.t;
    if (typeof frame.server_time === "number") this.offset = frame.server_time + (this.latency || 0) / 2 - now;
  }
}

/** One WebSocket to the server, reconnected until the server refuses the page.
 *
 *  `hooks`: banner(state) while (re)connecting, trustChanged() when values can no longer be trusted
 *  (or can again), refused(state), reload(reason), accept(frame) → false to drop a frame
 *  before it is applied, frame(frame) for an applied dashboard frame. */
export class Link {
  wsPath;
  wall; // a wall is refused differently from a desk (it never shows "signed out")
  backoffBaseMs;
  backoffCapMs;
  clock;
  hooks;
  socket = null;
  attempt = 0; // reconnects since the last snapshot
  open = false;
  everLive = false; // a snapshot arrived once: later losses say "reconnecting"
  refused = false;
  lastFrameAt = 0;
  silenceMarked = false;
  lastPingAt = 0;
  reconnectTimer = 0;
  seqs = new Map(); // dashboard slug -> last seq
  connections = new Map(); // dashboard slug -> Connection

  constructor(config, clock, hooks) {
    this.wsPath = config.wsPath;
    this.wall = !!config.wall;
    this.backoffBaseMs = config.backoffBaseMs;
    this.backoffCapMs = config.backoffCapMs;
    this.clock = clock;
    this.hooks = hooks;
  }

  connect() {
    this.hooks.banner(this.everLive ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${this.wsPath}`);
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.open = true;
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
      if (event.code === SIGNED_OUT && !this.wall) this.refuse("signed out");
      else if ((event.code === FORBIDDEN || event.code === GONE) && !this.wall) this.refuse("no access");
      else if (event.code === FORBIDDEN) this.refuse();
      else this.drop();
    };
  }

  /** The link is gone: mark everything stale now and retry with capped backoff. */
  drop() {
    const socket = this.socket;
    this.socket = null;
    this.open = false;
    this.seqs.clear();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      try { socket.close(); } catch { /* already closed */ }
    }
    this.hooks.banner(this.everLive ? "reconnecting" : "connecting");
    this.hooks.trustChanged();
    const delay = backoffDelay(this.attempt++, this.backoffBaseMs, this.backoffCapMs);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** The server refused this page (wall link revoked, access removed): stop for good. */
  refuse(state = "refused") {
    this.refused = true;
    this.socket = null;
    this.open = false;
    this.seqs.clear();
    this.hooks.refused(state);
  }

  send(message) {
    if (this.socket && this.open) this.socket.send(JSON.stringify(message));
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
      case "pong":
        return this.clock.pong(frame);
      case "reload":
        return this.hooks.reload(frame.reason || "server");
      case "alerts":
        return this.hooks.alerts?.(frame);
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
    if (!this.hooks.accept(frame)) return;
    this.seqs.set(slug, frame.seq);
    if (frame.type === "snapshot") {
      this.attempt = 0;
      this.everLive = true;
    }
    if (frame.connection) this.connections.set(slug, frame.connection);
    this.hooks.frame(frame);
  }

  /** Why values cannot be trusted right now, or "" when they can. */
  problem() {
    if (!this.open || this.seqs.size === 0) return "socket";
    if (Date.now() - this.lastFrameAt > STALE_AFTER_SILENCE_MS) return "silence";
    let worst = "";
    for (const connection of this.connections.values()) {
      const problem = upstreamProblem(connection);
      if (problem === "down") return "upstream down";
      if (problem) worst = "upstream reconnecting";
    }
    return worst;
  }

  /** Watchdog (every tick): a silent socket is stale after a moment and dropped after a while. */
  watch(now) {
    if (!this.open) return;
    const silent = now - this.lastFrameAt;
    if (silent > RECONNECT_AFTER_SILENCE_MS) this.drop();
    else if (silent > STALE_AFTER_SILENCE_MS && !this.silenceMarked) {
      this.silenceMarked = true;
      this.hooks.trustChanged();
    } else if (silent <= STALE_AFTER_SILENCE_MS && this.silenceMarked) {
      this.silenceMarked = false;
      this.hooks.trustChanged();
    }
  }

  /** Ping once a second (every tick may call it): latency, clock offset, and frames to keep the watchdog quiet. */
  keepAlive(now) {
    if (now - this.lastPingAt < PING_INTERVAL_MS) return;
    this.lastPingAt = now;
    this.ping();
  }
}
