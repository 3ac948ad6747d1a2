'use strict';
// The CometD project's Node server (npm "cometd-nodejs-server") on 127.0.0.1 for the
// interop tests; see peer_common.js for the command line and the control API. It
// forgets a client with "402::session_unknown" and advice reconnect=handshake, and
// expires a session that has not polled for interval + maxInterval.
const cometd = require('cometd-nodejs-server');
const { parseArgs, runPeer } = require('./peer_common');

const options = parseArgs(process.argv);
const server = cometd.createCometDServer({
  timeout: options.timeoutMs,
  interval: options.intervalMs,
  maxInterval: options.maxIntervalMs,
  sweepPeriod: 200,
});
const sessions = new Set();
let reconnectNone = false;

server.addListener('sessionAdded', session => sessions.add(session));
server.addListener('sessionRemoved', session => sessions.delete(session));
server.addExtension({
  outgoing: (cometdServer, sender, session, message, callback) => {
    if (reconnectNone && message.channel === '/meta/connect') {
      message.advice = { reconnect: 'none' };
    }
    callback(undefined, true);
  },
});

runPeer({
  handle: (request, response, body, messages) => {
    request.body = messages;
    server.handle(request, response);
  },
  publish: (channel, data) => server.createServerChannel(channel).publish(null, data),
  // What the server does itself when a session expires: fail its held connect, drop it.
  forget: () => {
    const all = Array.from(sessions);
    all.forEach(session => {
      if (session._scheduler) session._scheduler.cancel();
      server._removeServerSession(session, true);
    });
    return all.length;
  },
  clientCount: () => sessions.size,
  setReconnectNone: () => { reconnectNone = true; },
}, options);
