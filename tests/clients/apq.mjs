// Apollo Client's PersistedQueryLink against a live Rapport (run by tests/test_persisted.py).
//   node apq.mjs URL [--get] [--mutation] [--name OperationName]
// Runs one query (named --name, so each name is a new document to the server; and with
// --mutation one mutation) through PersistedQueryLink + HttpLink and
// prints one JSON object: every HTTP exchange ({method, hashOnly, status, codes}) and the data.
import { createHash } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, ...flags] = process.argv.slice(2);
const name = flags.includes("--name") ? flags[flags.indexOf("--name") + 1] : "PopularInterests";
const exchanges = [];

async function recordingFetch(input, init) {
  const target = new URL(typeof input === "string" ? input : input.url);
  const method = (init?.method ?? "GET").toUpperCase();
  const sent = method === "GET" ? Object.fromEntries(target.searchParams) : JSON.parse(init.body);
  const response = await fetch(input, init);
  const text = await response.clone().text();
  let codes = [];
  try {
    codes = (JSON.parse(text).errors ?? []).map((e) => e.extensions?.code ?? e.message);
  } catch {
    codes = [`not JSON: ${text.slice(0, 80)}`];
  }
  exchanges.push({
    method,
    hashOnly: !sent.query,
    hasHash: JSON.stringify(sent.extensions ?? "").includes("sha256Hash"),
    status: response.status,
    cacheControl: response.headers.get("cache-control"),
    codes,
  });
  return response;
}

const link = new PersistedQueryLink({
  sha256: (text) => createHash("sha256").update(text).digest("hex"),
  useGETForHashedQueries: flags.includes("--get"),
}).concat(new HttpLink({ uri: url, fetch: recordingFetch }));
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const out = { exchanges };
try {
  const query = await client.query({
    query: gql(`query ${name} { interests(first: 2) { __typename } }`),
    fetchPolicy: "no-cache",
  });
  out.query = query.data;
  if (flags.includes("--mutation")) {
    const mutation = await client.mutate({
      mutation: gql`
        mutation SignOut {
          logout {
            __typename
          }
        }
      `,
    });
    out.mutation = mutation.data;
  }
} catch (error) {
  out.error = String(error);
}
console.log(JSON.stringify(out));
