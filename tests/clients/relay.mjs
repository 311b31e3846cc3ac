// Relay (relay-runtime) against a live Rapport in trusted-documents mode (run by
// tests/test_relay_client.py, after relay-compiler has compiled relay/Rapport.js into
// relay/__generated__/ and the server has registered its persisted_queries.json).
//   node relay.mjs '{"url": ..., "ann": {"token"}, "bo": {"token"}, "conversation": ID}'
// Ann's Relay Environment (the network layer README Clients → "Relay" shows) sends only
// persisted ids, over HTTP and over graphql-transport-ws. Bo acts through plain HTTP (by id
// too: the server runs nothing else). Ann:
//   home:         RapportHomeQuery (me → profile fragment, conversations → a fragment per node)
//   refetch:      Bo sends a message; Rapport_conversation's @refetchable query (node(id:))
//   mutation:     updateProfile; the home snapshot, looked up again, shows it without a request;
//                 then Rapport_profile's refetch query (node(id:) on an OwnProfile id)
//   subscription: messageAdded; Bo sends a message; it lands in the store and in the snapshot
// Prints one JSON report on its last line: {home, records, refetch, mutation, subscription,
// http, ws, final, errors}.
import { createRequire } from "node:module";

import { createClient } from "graphql-ws";
import {
  Environment,
  Network,
  Observable,
  RecordSource,
  Store,
  commitMutation,
  createOperationDescriptor,
  fetchQuery,
  getRequest,
  getSelector,
  requestSubscription,
} from "relay-runtime";
import WebSocket from "ws";

const require = createRequire(import.meta.url);
const artifact = (name) => require(`./relay/__generated__/${name}.graphql.js`);
const HOME = artifact("RapportHomeQuery");
const PROFILE = artifact("Rapport_profile");
const CONVERSATION = artifact("Rapport_conversation");
const UPDATE_PROFILE = artifact("RapportUpdateProfileMutation");
const SEND_MESSAGE = artifact("RapportSendMessageMutation");
const MESSAGE_ADDED = artifact("RapportMessageAddedSubscription");

const { url, ann, bo, conversation } = JSON.parse(process.argv[2]);
const WAIT_MS = 60_000; // the longest one step may take (never a timing target)
const report = { http: [], ws: [], errors: [] };
const getToken = () => ann.token;

// ---- the network layer, as README Clients → "Relay" shows it ----
// With persistConfig, relay-compiler leaves operation.text null and gives operation.id.
// graphql-ws wants `query` to be a string: "" with an id is the id alone.
const request = (operation, variables) => ({
  operationName: operation.name,
  query: operation.text ?? "",
  variables,
  extensions: operation.id
    ? { persistedQuery: { version: 1, sha256Hash: operation.id } }
    : undefined,
});
const fetchFn = async (operation, variables) => {
  report.http.push(operation.name);
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${getToken()}` },
    body: JSON.stringify(request(operation, variables)),
  });
  return response.json();
};
const wsClient = createClient({
  url: url.replace(/^http/, "ws"),
  webSocketImpl: WebSocket,
  connectionParams: () => ({ headers: { Authorization: `Bearer ${getToken()}` } }),
  retryAttempts: 0,
});
const subscribe = (operation, variables) => {
  report.ws.push(operation.name);
  return Observable.create((sink) => wsClient.subscribe(request(operation, variables), sink));
};
const environment = new Environment({
  network: Network.create(fetchFn, subscribe),
  store: new Store(new RecordSource()),
});

// ---- Bo, through plain HTTP ----
async function boSends(text, key) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${bo.token}` },
    body: JSON.stringify(
      request(SEND_MESSAGE.params, { conversationId: conversation, body: text, key }),
    ),
  });
  const answer = await response.json();
  const sent = answer.data?.sendMessage;
  if (sent?.__typename !== "Message") throw new Error(`Bo: ${JSON.stringify(answer)}`);
  return sent;
}

// ---- reading the store ----
const homeOperation = createOperationDescriptor(getRequest(HOME), {});
const home = () => environment.lookup(homeOperation.fragment).data;
const read = (fragment, ref) => (ref ? environment.lookup(getSelector(fragment, ref)).data : null);
const profileOf = (data) => read(PROFILE, data?.me?.profile);
const conversationsOf = (data) =>
  (data?.conversations?.edges ?? []).map((edge) => read(CONVERSATION, edge.node));
const homeView = (data = home()) => ({
  me: data?.me ? { __typename: data.me.__typename, id: data.me.id, email: data.me.email } : null,
  profile: profileOf(data),
  conversations: conversationsOf(data),
});
function record(id) {
  const found = environment.getStore().getSource().get(id);
  if (!found) return null;
  // Scalars as stored, links as the id they point to.
  return Object.fromEntries(
    Object.entries(found).map(([k, v]) => [k, v?.__ref !== undefined ? { ref: v.__ref } : v]),
  );
}
const within = (promise, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS)),
  ]);

try {
  // ---- home ----
  const retained = environment.retain(homeOperation); // an app's screen holds its query
  await within(fetchQuery(environment, HOME, {}).toPromise(), "home");
  report.home = homeView();
  const { me, profile, conversations } = report.home;
  const ids = [me?.id, profile?.id];
  for (const c of conversations) ids.push(c?.id, c?.lastMessage?.id);
  report.records = Object.fromEntries(ids.filter(Boolean).map((id) => [id, record(id)]));
  report.storeKeys = environment.getStore().getSource().getRecordIDs();

  // ---- refetch through node(id:) ----
  const refetch = CONVERSATION.metadata.refetch;
  const sent = await boSends("Are you free on Sunday?", "bo-relay-2");
  const before = conversationsOf(home()).find((c) => c?.id === conversation) ?? null;
  const httpBefore = report.http.length;
  const refetched = await within(
    fetchQuery(environment, refetch.operation, {
      [refetch.identifierInfo.identifierQueryVariableName]: conversation,
    }).toPromise(),
    "refetch",
  );
  report.refetch = {
    artifact: {
      fragmentPathInResult: refetch.fragmentPathInResult,
      identifierField: refetch.identifierInfo.identifierField,
      operation: refetch.operation.params.name,
      operationText: refetch.operation.params.text,
      persistedId: refetch.operation.params.id,
    },
    sent,
    before,
    answer: read(CONVERSATION, refetched?.node),
    after: conversationsOf(home()).find((c) => c?.id === conversation) ?? null,
    requests: report.http.slice(httpBefore),
  };

  // ---- a mutation's answer updates the record the home query shows ----
  const bio = `Relay wrote this at ${new Date().toISOString()}`;
  const profileBefore = profileOf(home());
  const homeSnapshot = environment.lookup(homeOperation.fragment);
  const profileSnapshot = environment.lookup(getSelector(PROFILE, homeSnapshot.data.me.profile));
  const notified = [];
  const watching = environment.subscribe(profileSnapshot, (next) => notified.push(next.data));
  const httpBeforeMutation = report.http.length;
  const answer = await within(
    new Promise((resolve, reject) =>
      commitMutation(environment, {
        mutation: UPDATE_PROFILE,
        variables: { input: { bio } },
        onCompleted: (response, errors) =>
          errors?.length ? reject(new Error(JSON.stringify(errors))) : resolve(response),
        onError: reject,
      }),
    ),
    "updateProfile",
  );
  watching.dispose();
  const profileRefetch = PROFILE.metadata.refetch; // node(id:) on the OwnProfile id
  const again = await within(
    fetchQuery(environment, profileRefetch.operation, { id: profileBefore.id }).toPromise(),
    "profile refetch",
  );
  report.mutation = {
    bio,
    answerTypename: answer.updateProfile.__typename,
    answer: read(PROFILE, answer.updateProfile.profile),
    before: profileBefore,
    after: profileOf(home()),
    notified,
    requests: report.http.slice(httpBeforeMutation, httpBeforeMutation + 1),
    refetched: read(PROFILE, again?.node),
  };

  // ---- a subscription event from Bo lands in the store ----
  const received = [];
  const event = new Promise((resolve, reject) => {
    const subscription = requestSubscription(environment, {
      subscription: MESSAGE_ADDED,
      variables: { conversationId: conversation, after: sent.id }, // nothing after it is missed
      onNext: (payload) => {
        received.push(payload);
        resolve(subscription);
      },
      onError: reject,
    });
  });
  const live = await boSends("Climbing gym at ten?", "bo-relay-3");
  const subscription = await within(event, "messageAdded");
  subscription.dispose();
  report.subscription = {
    sent: live,
    received: received.map((payload) => ({
      __typename: payload.messageAdded.__typename,
      id: payload.messageAdded.id,
      body: payload.messageAdded.body,
    })),
    record: record(live.id),
    conversation: conversationsOf(home()).find((c) => c?.id === conversation) ?? null,
  };
  report.final = homeView();
  retained.dispose();
} catch (error) {
  report.errors.push(String(error?.stack ?? error));
}
await wsClient.dispose();
console.log(JSON.stringify(report));
process.exit(0);
