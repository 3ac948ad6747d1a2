// The official Genesys statistics client (npm genesys-statistics-client-js), unchanged, driven by
// the Python tests against the Genesys simulator. Prints one JSON object per line on stdout.
//
// Usage: node sim_genesys_client.js '<json>' where json = {url, apiKey, token, statistics, peekIds, read}.
"use strict";

const Statistics = require("genesys-statistics-client-js");
const logger = require("winston");

logger.level = "warn";
const options = JSON.parse(process.argv[2]);
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

async function main() {
    const api = new Statistics(options.apiKey, options.url);
    api.on(api.UPDATES_EVENT, (data) => emit({ event: "updates", data }));
    api.on(api.SERVICE_CHANGE_EVENT, (data) => emit({ event: "service", data }));
    await api.initialize(options.token);
    emit({ event: "initialized", cookies: api.cookieJar.getCookies({ domain: "127.0.0.1", path: "/",
        secure: false, script: false }).map((cookie) => cookie.name).sort() });

    const created = await api.createSubscription("genesys-js", options.statistics, true);
    emit({ event: "created", body: created });
    const peeked = await api.peekSubscriptionStats("genesys-js", options.peekIds, true);
    emit({ event: "peeked", body: peeked });
    const read = options.read;
    const one = await api.getStatValue(read.name, read.objectId, read.objectType);
    emit({ event: "value", body: one });
    const many = await api.getStatValues([read]);
    emit({ event: "values", body: many });
}

main().catch((error) => {
    emit({ event: "error", error: String(error && error.stack || error), status: error && error.status });
    process.exit(1);
});
