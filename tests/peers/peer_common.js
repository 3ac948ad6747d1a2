'use strict';
// Shared harness of the Bayeux test peers (faye_server.js, cometd_server.js): one HTTP
// server on 127.0.0.1 that serves a third-party Bayeux server at
// /statistics/v3/notifications and a control API under /control/ that tests use to
// publish messages and inject faults. Prints {"port": N} on stdout once listening.
//
// Command line: --port N (0 = any free port), --timeout-ms N (server hold time),
// --interval-ms N (advice interval), --max-interval-ms N (session expiry, CometD),
// --api-key K (then every Bayeux request needs x-api-key: K, else 403).
//
// Control API (JSON bodies and replies):
//   POST /control/publish {"channel", "count"}  -> {"first", "last"}; data = {"seq": n}
//   POST /control/forget                         -> {"forgotten": n}: the server forgets every client
//   POST /control/drop                           -> {"dropped": n}: destroys every other TCP connection
//   POST /control/fail {"count", "status"}       -> next count Bayeux requests get that status, HTML body
//   POST /control/hold {"count"}                 -> next count /meta/connect requests are never answered
//   POST /control/reconnect-none                 -> later /meta/connect replies advise reconnect none
//   GET  /control/state                          -> counters (clients, handshakes, connects, gaps...)
const http = require('http');
const { Readable } = require('stream');

const MOUNT = '/statistics/v3/notifications';

function parseArgs(argv) {
  const options = { port: 0, timeoutMs: 1000, intervalMs: 0, maxIntervalMs: 2000, apiKey: null };
  for (let i = 2; i < argv.length; i += 2) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--port': options.port = Number(value); break;
      case '--timeout-ms': options.timeoutMs = Number(value); break;
      case '--interval-ms': options.intervalMs = Number(value); break;
      case '--max-interval-ms': options.maxIntervalMs = Number(value); break;
      case '--api-key': options.apiKey = value; break;
      default: throw new Error('unknown option ' + argv[i]);
    }
  }
  return options;
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', chunk => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sendJson(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

// A fresh readable request carrying an already-read body, for servers that read the stream.
function replayRequest(request, body) {
  const replay = Readable.from([Buffer.from(body, 'utf8')]);
  replay.method = request.method;
  replay.url = request.url;
  replay.headers = request.headers;
  replay.socket = request.socket;
  replay.connection = request.socket;
  return replay;
}

// adapter: { handle(request, response, body, messages), publish(channel, data), forget() -> n,
//            clientCount() -> n, setReconnectNone() }
function runPeer(adapter, options) {
  const sockets = new Set();
  const state = {
    handshakes: 0, connects: 0, failed: 0, held: 0, published: 0,
    connectGapsMs: [], forbidden: 0,
  };
  const fault = { failCount: 0, failStatus: 503, holdCount: 0 };
  const sequences = {};
  const lastConnectEnd = {};
  const heldResponses = [];

  async function control(request, response, path) {
    const text = request.method === 'POST' ? await readBody(request) : '';
    const body = text ? JSON.parse(text) : {};
    switch (path) {
      case '/control/publish': {
        const channel = body.channel;
        const count = body.count || 1;
        const first = (sequences[channel] || 0) + 1;
        for (let n = first; n < first + count; ++n) {
          adapter.publish(channel, { seq: n });
        }
        sequences[channel] = first + count - 1;
        state.published += count;
        return sendJson(response, 200, { first: first, last: first + count - 1 });
      }
      case '/control/forget':
        return sendJson(response, 200, { forgotten: adapter.forget() });
      case '/control/drop': {
        let dropped = 0;
        for (const socket of sockets) {
          if (socket !== request.socket) { socket.destroy(); ++dropped; }
        }
        return sendJson(response, 200, { dropped: dropped });
      }
      case '/control/fail':
        fault.failCount = body.count || 1;
        fault.failStatus = body.status || 503;
        return sendJson(response, 200, { armed: fault.failCount });
      case '/control/hold':
        fault.holdCount = body.count || 1;
        return sendJson(response, 200, { armed: fault.holdCount });
      case '/control/reconnect-none':
        adapter.setReconnectNone();
        return sendJson(response, 200, { ok: true });
      case '/control/state':
        return sendJson(response, 200, Object.assign({ clients: adapter.clientCount() }, state));
      default:
        return sendJson(response, 404, { error: 'unknown control ' + path });
    }
  }

  async function bayeux(request, response) {
    if (options.apiKey !== null && request.headers['x-api-key'] !== options.apiKey) {
      state.forbidden += 1;
      return sendJson(response, 403, { message: 'Forbidden' });
    }
    if (fault.failCount > 0) {
      fault.failCount -= 1;
      state.failed += 1;
      const html = '<html><body><h1>' + fault.failStatus + ' Service Unavailable</h1></body></html>';
      response.writeHead(fault.failStatus, { 'Content-Type': 'text/html' });
      return response.end(html);
    }
    const body = await readBody(request);
    let messages = [];
    try {
      messages = [].concat(JSON.parse(body));
    } catch (e) {
      messages = [];
    }
    const now = Date.now();
    for (const message of messages) {
      if (!message || typeof message !== 'object') continue;
      if (message.channel === '/meta/handshake') state.handshakes += 1;
      if (message.channel === '/meta/connect') {
        state.connects += 1;
        if (fault.holdCount > 0) {
          fault.holdCount -= 1;
          state.held += 1;
          heldResponses.push(response);  // never answered: the client must time out
          return;
        }
        const clientId = message.clientId;
        if (lastConnectEnd[clientId] !== undefined) state.connectGapsMs.push(now - lastConnectEnd[clientId]);
        response.on('finish', () => { lastConnectEnd[clientId] = Date.now(); });
      }
    }
    adapter.handle(replayRequest(request, body), response, body, messages);
  }

  const server = http.createServer((request, response) => {
    const path = request.url.split('?')[0];
    const handler = path.startsWith('/control/') ? control(request, response, path)
      : path === MOUNT || path.startsWith(MOUNT + '/') ? bayeux(request, response)
        : Promise.resolve(sendJson(response, 404, { error: 'not found' }));
    handler.catch(error => {
      process.stderr.write('peer error: ' + error.stack + '\n');
      if (!response.headersSent) sendJson(response, 500, { error: String(error) });
    });
  });
  server.on('connection', socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 60000;
  server.requestTimeout = 0;
  server.listen(options.port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  process.on('SIGTERM', () => process.exit(0));
}

module.exports = { parseArgs, runPeer, MOUNT };
