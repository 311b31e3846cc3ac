// One subscription through the real graphql-ws client (as Apollo's GraphQLWsLink, urql's
// subscriptionExchange and Relay network layers use it), driven by tests/test_connection_init.py.
//   node graphql_ws_subscribe.mjs WS_URL CONNECTION_PARAMS_JSON QUERY VARIABLES_JSON
// Prints one JSON line per event: {"event": "connected"}, then {"event": "next", "result": ...}
// for the first result, then exits 0; {"event": "error", ...} and exit 1 on failure.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, params, query, variables] = process.argv.slice(2);
const say = (event) => console.log(JSON.stringify(event));

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: () => JSON.parse(params),
  retryAttempts: 0,
  on: {
    connected: () => say({ event: "connected" }),
    closed: (event) => say({ event: "closed", code: event.code, reason: event.reason }),
  },
});

try {
  const results = client.iterate({ query, variables: JSON.parse(variables) });
  for await (const result of results) {
    say({ event: "next", result });
    break;
  }
  await client.dispose();
} catch (error) {
  say({ event: "error", error: String(error?.reason ?? error?.message ?? error) });
  await client.dispose();
  process.exit(1);
}
