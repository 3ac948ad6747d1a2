// A CometD JavaScript client (npm cometd + cometd-nodejs-client) driven by the Python tests
// against the Genesys simulator. Prints one JSON object per line on stdout.
//
// Usage: node sim_cometd_client.js '<json>' where json = {url, apiKey, token, statistics}.
// After every successful handshake it subscribes both Statistics channels and then, with the
// session cookie it was given, opens a REST statistic subscription (a new one per handshake,
// since the official clients' REST subscriptions die with their CometD session).
"use strict";

const options = JSON.parse(process.argv[2]);
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

async function main() {
    const { adapt } = await import("cometd-nodejs-client");
    const { CometD } = await import("cometd");

    // One cookie jar shared by CometD and REST, like the official clients.
    const jar = new Map();
    adapt({
        cookies: {
            storeCookie(uri, header, callback) {
                const pair = header.split(";")[0].trim();
                const equal = pair.indexOf("=");
                if (equal > 0) {
                    jar.set(pair.substring(0, equal), pair.substring(equal + 1));
                }
                callback();
            },
            retrieveCookies(context, uri, callback) {
                callback(null, [...jar].map(([name, value]) => `${name}=${value}`));
            },
        },
    });

    const cometd = new CometD();
    // Long-polling only, like the official Genesys clients (the service offers no websocket).
    cometd.unregisterTransport("websocket");
    cometd.configure({
        url: `${options.url}/statistics/v3/notifications`,
        requestHeaders: { "x-api-key": options.apiKey, Authorization: `Bearer ${options.token}` },
        logLevel: "warn",
    });
    let handshakes = 0;

    async function openStatistics() {
        const operationId = `cometd-${handshakes}`;
        const response = await fetch(`${options.url}/statistics/v3/subscriptions?verbose=INFO`, {
            method: "POST",
            headers: {
                "x-api-key": options.apiKey,
                Authorization: `Bearer ${options.token}`,
                "Content-Type": "application/json",
                Cookie: [...jar].map(([name, value]) => `${name}=${value}`).join("; "),
            },
            body: JSON.stringify({ operationId, data: { statistics: options.statistics } }),
        });
        emit({ event: "rest", status: response.status, body: await response.json() });
    }

    cometd.addListener("/meta/handshake", (reply) => {
        emit({ event: "handshake", successful: reply.successful, cookies: [...jar.keys()].sort() });
        if (!reply.successful) {
            if (options.exitOnFailure) {
                cometd.disconnect();
                process.exit(0);
            }
            return;
        }
        handshakes += 1;
        const subscribed = ["/statistics/v3/service", "/statistics/v3/updates"].map((channel) =>
            new Promise((resolve) => {
                cometd.subscribe(channel, (message) => emit({ event: "message", channel, data: message.data }),
                    (result) => {
                        emit({ event: "subscribed", channel, successful: result.successful });
                        resolve();
                    });
            }));
        Promise.all(subscribed).then(openStatistics).catch((error) => emit({ event: "error", error: String(error) }));
    });
    cometd.addListener("/meta/connect", (reply) => {
        if (!reply.successful) {
            emit({ event: "connect-failed", error: reply.error || null, advice: reply.advice || null });
        }
    });
    cometd.handshake();
}

main().catch((error) => {
    emit({ event: "error", error: String(error && error.stack || error) });
    process.exit(1);
});
