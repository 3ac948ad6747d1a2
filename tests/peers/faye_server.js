'use strict';
// Faye (npm "faye") on 127.0.0.1 for the interop tests; see peer_common.js for the
// command line and the control API. Faye forgets a client with "401::Unknown client"
// and advice reconnect=handshake; a client that stops polling for 2 x timeout expires.
const faye = require('faye');
const { parseArgs, runPeer, MOUNT } = require('./peer_common');

const options = parseArgs(process.argv);
const adapter = new faye.NodeAdapter({
  mount: MOUNT,
  timeout: options.timeoutMs / 1000,
  engine: { interval: options.intervalMs / 1000 },
});
const engine = adapter._server._engine;
const clients = new Set();
let reconnectNone = false;
let messageId = 0;

adapter.on('handshake', clientId => clients.add(clientId));
adapter.on('disconnect', clientId => clients.delete(clientId));
adapter.addExtension({
  outgoing: (message, callback) => {
    if (reconnectNone && message.channel === '/meta/connect') {
      message.advice = { reconnect: 'none' };
    }
    callback(message);
  },
});

runPeer({
  handle: (request, response) => adapter.handle(request, response),
  publish: (channel, data) => engine.publish({ channel: channel, data: data, id: 'p' + (++messageId) }),
  forget: () => {
    const ids = Array.from(clients);
    ids.forEach(id => engine.destroyClient(id));
    return ids.length;
  },
  clientCount: () => clients.size,
  setReconnectNone: () => { reconnectNone = true; },
}, options);
