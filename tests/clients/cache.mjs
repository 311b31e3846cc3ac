// Apollo Client's normalised cache against a live Rapport (run by tests/test_apollo_cache.py).
//   node cache.mjs '{"url": ..., "people": {"ann": {"token", "id"}, "bo": ..., "cy": ..., "di": ...}}'
// Ann's client (InMemoryCache with the generated possibleTypes, nothing else configured)
// watches the queries an app keeps open, runs each mutation with the cache code README
// Clients → "Apollo Client: cache and persisted queries" documents (CACHE_UPDATES below,
// word for word), waits until the watchers are quiet, then compares, for every watched
// query, the cache (readQuery) and the watcher's latest result with a network-only answer.
// The others (bo, cy, di) act through plain HTTP. Prints one JSON report:
//   {planned: [...], steps: [{mutation, compared, stale: [{query, source, path, cached,
//   server}]}], errors: [...]}
import { readFileSync } from "node:fs";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const { url, people } = JSON.parse(process.argv[2]);
const possibleTypes = JSON.parse(readFileSync(new URL("../../possibleTypes.json", import.meta.url)));

let inflight = 0;
async function countingFetch(input, init) {
  inflight += 1;
  try {
    return await fetch(input, init);
  } finally {
    inflight -= 1;
  }
}

const client = new ApolloClient({
  link: new HttpLink({
    uri: url,
    fetch: countingFetch,
    headers: { authorization: `Bearer ${people.ann.token}` },
  }),
  cache: new InMemoryCache({ possibleTypes }),
});

// Fields that change without any mutation of Ann's (presence, activity) are not selected.
const FRAGMENTS = `
  fragment ProfileFields on OwnProfile { id displayName bio interests city }
  fragment PreferencesFields on Preferences { id ageMin ageMax genders intents maxDistanceKm }
  fragment MatchFields on Match { id status origin endedByMe user { id displayName } }
  fragment MessageFields on Message { id conversationId body mine }
  fragment ConversationFields on Conversation {
    id open unreadCount lastReadId lastActivityAt user { id } lastMessage { ...MessageFields }
  }
  fragment NewMatchFields on Match { ...MatchFields conversation { ...ConversationFields } }
  fragment NotificationFields on Notification { id kind readAt }
  fragment RequestFields on InterestRequest { id status respondedAt sender { id } receiver { id } }
`;
// Each document with the fragments it spreads (and theirs): the server refuses unused ones.
const FRAGMENT_TEXT = Object.fromEntries(
  FRAGMENTS.split(/(?=fragment )/).filter((f) => f.trim()).map((f) => [f.split(" ")[1], f]),
);
function doc(text) {
  const used = new Set();
  const visit = (t) => {
    for (const [, name] of t.matchAll(/\.\.\.(\w+)/g)) {
      if (FRAGMENT_TEXT[name] && !used.has(name)) {
        used.add(name);
        visit(FRAGMENT_TEXT[name]);
      }
    }
  };
  visit(text);
  return gql([text, ...[...used].map((name) => FRAGMENT_TEXT[name])].join("\n"));
}

export const ME = doc(`query Me { me { __typename ... on Me { id email
  profile { ...ProfileFields } preferences { ...PreferencesFields } } } }`);
export const MATCHES = doc(`query Matches($status: MatchStatus) { matches(status: $status) {
  __typename ... on MatchConnection { nodes { ...MatchFields } } } }`);
export const CONVERSATIONS = doc(`query Conversations { conversations { __typename
  ... on ConversationConnection { nodes { ...ConversationFields } } } }`);
export const MESSAGES = doc(`query Messages($conversationId: ID!) {
  messages(conversationId: $conversationId) { __typename
    ... on MessageConnection { nodes { ...MessageFields } } } }`);
export const NOTIFICATIONS = doc(`query Notifications($unreadOnly: Boolean! = false) {
  notifications(unreadOnly: $unreadOnly) { __typename
    ... on NotificationConnection { nodes { ...NotificationFields } } } }`);
export const RECOMMENDATIONS = doc(`query Recommendations { recommendations(first: 3) {
  __typename ... on RecommendationConnection { nodes { id user { id } } } ... on Error { code } } }`);
export const REQUESTS = doc(`query Requests($direction: InterestDirection!, $status: InterestRequestStatus) {
  interestRequests(direction: $direction, status: $status) { __typename
    ... on InterestRequestConnection { nodes { ...RequestFields } } } }`);

const ERROR = "... on Error { code message }";
const M = {
  createProfile: doc(`mutation CreateProfile($i: CreateProfileInput!) { createProfile(input: $i) {
    __typename ... on OwnProfile { ...ProfileFields } ${ERROR} } }`),
  updateProfile: doc(`mutation UpdateProfile($i: UpdateProfileInput!) { updateProfile(input: $i) {
    __typename ... on OwnProfile { ...ProfileFields } ${ERROR} } }`),
  updatePreferences: doc(`mutation UpdatePreferences($i: UpdatePreferencesInput!) {
    updatePreferences(input: $i) { __typename ... on Preferences { ...PreferencesFields } ${ERROR} } }`),
  setInterests: doc(`mutation SetInterests($names: [String!]!) { setInterests(names: $names) {
    __typename ... on InterestsPayload { interests profile { ...ProfileFields } } ${ERROR} } }`),
  like: doc(`mutation Like($userId: ID!) { like(userId: $userId) {
    __typename ... on SwipePayload { swipe { id } match { ...NewMatchFields } } ${ERROR} } }`),
  sendMessage: doc(`mutation SendMessage($conversationId: ID!, $body: String!, $key: String!) {
    sendMessage(conversationId: $conversationId, body: $body, clientMessageId: $key) {
      __typename ... on Message { ...MessageFields conversation { ...ConversationFields } } ${ERROR} } }`),
  markRead: doc(`mutation MarkRead($conversationId: ID!, $upTo: ID!) {
    markRead(conversationId: $conversationId, upTo: $upTo) {
      __typename ... on ReadState { id lastReadId unreadCount conversation { ...ConversationFields } }
      ${ERROR} } }`),
  markNotificationsRead: doc(`mutation MarkNotificationsRead { markNotificationsRead {
    __typename ... on NotificationsRead { marked unreadCount notifications { ...NotificationFields } }
    ${ERROR} } }`),
  respondToInterest: doc(`mutation Respond($id: ID!, $response: InterestResponse!) {
    respondToInterest(id: $id, response: $response) { __typename
      ... on RespondPayload { request { ...RequestFields } match { ...NewMatchFields } } ${ERROR} } }`),
  sendInterest: doc(`mutation SendInterest($userId: ID!, $message: String!) {
    sendInterest(userId: $userId, message: $message) {
      __typename ... on InterestRequest { ...RequestFields } ${ERROR} } }`),
  cancelInterest: doc(`mutation CancelInterest($id: ID!) { cancelInterest(id: $id) {
    __typename ... on InterestRequest { ...RequestFields } ${ERROR} } }`),
  unmatch: doc(`mutation Unmatch($matchId: ID!) { unmatch(matchId: $matchId) {
    __typename ... on Match { ...MatchFields conversation { ...ConversationFields } } ${ERROR} } }`),
  block: doc(`mutation Block($userId: ID!) { block(userId: $userId) {
    __typename ... on BlockPayload { blocked } ${ERROR} } }`),
  unblock: doc(`mutation Unblock($userId: ID!) { unblock(userId: $userId) {
    __typename ... on BlockPayload { blocked } ${ERROR} } }`),
  pass: doc(`mutation Pass($userId: ID!) { pass(userId: $userId) {
    __typename ... on SwipePayload { swipe { id kind undoneAt } } ${ERROR} } }`),
  undoSwipe: doc(`mutation UndoSwipe { undoSwipe {
    __typename ... on Swipe { id kind undoneAt } ${ERROR} } }`),
};

// The client code README documents for each mutation: `update` for mutation(...), for list
// membership and order, which a normalised cache cannot infer. A mutation absent here needs
// nothing: what it changed comes back with its id.
export function editNodes(cache, query, variables, edit) {
  // A watched connection query's `nodes`, edited in place (no request).
  cache.updateQuery({ query, variables }, (old) => {
    const [field] = Object.keys(old ?? {});
    if (!old?.[field]?.nodes) return undefined; // not cached, or an error result
    return { [field]: { ...old[field], nodes: edit(old[field].nodes) } };
  });
}
const first = (item) => (nodes) => [item, ...nodes.filter((n) => n.id !== item.id)];
const without = (ids) => (nodes) => nodes.filter((n) => !ids.has(n.id));

// Lists that change in ways the answer does not show: drop them; watchers read them again.
export function again(cache, ...fieldNames) {
  for (const fieldName of fieldNames) cache.evict({ id: "ROOT_QUERY", fieldName });
  cache.gc();
}
const EVERY_LIST = ["matches", "conversations", "messages", "interestRequests", "notifications", "recommendations"];

function addMatch(cache, match) {
  if (!match) return;
  editNodes(cache, MATCHES, {}, first(match));
  editNodes(cache, MATCHES, { status: "ACTIVE" }, first(match));
  // The conversation it opened comes with it, and goes first in `conversations`.
  if (match.conversation) editNodes(cache, CONVERSATIONS, {}, first(match.conversation));
}

export const CACHE_UPDATES = {
  createProfile(cache, { data }) {
    // `me` had no profile and no preferences (default ones come with the profile), and there
    // were no recommendations without a profile.
    if (data.createProfile.__typename === "OwnProfile") again(cache, "me", "recommendations");
  },
  like(cache, { data }) {
    if (data.like.__typename !== "SwipePayload") return;
    addMatch(cache, data.like.match);
    again(cache, "recommendations");
  },
  pass(cache, { data }) {
    if (data.pass.__typename === "SwipePayload") again(cache, "recommendations");
  },
  undoSwipe(cache, { data }) {
    if (data.undoSwipe.__typename === "Swipe") again(cache, "recommendations");
  },
  respondToInterest(cache, { data }) {
    const answer = data.respondToInterest;
    if (answer.__typename !== "RespondPayload") return;
    editNodes(cache, REQUESTS, { direction: "RECEIVED", status: "PENDING" }, without(new Set([answer.request.id])));
    addMatch(cache, answer.match);
    if (answer.match) again(cache, "recommendations");
  },
  sendMessage(cache, { data }) {
    const message = data.sendMessage;
    if (message.__typename !== "Message") return;
    editNodes(cache, MESSAGES, { conversationId: message.conversationId }, first(message));
    // Its conversation (returned, so already current) now has the latest activity.
    if (message.conversation) editNodes(cache, CONVERSATIONS, {}, first(message.conversation));
  },
  markNotificationsRead(cache, { data }) {
    const read = data.markNotificationsRead;
    if (read.__typename !== "NotificationsRead") return;
    const marked = new Set(read.notifications.map((n) => n.id));
    editNodes(cache, NOTIFICATIONS, { unreadOnly: true }, without(marked));
  },
  sendInterest(cache, { data }) {
    const request = data.sendInterest;
    if (request.__typename !== "InterestRequest") return;
    editNodes(cache, REQUESTS, { direction: "SENT" }, first(request));
    editNodes(cache, REQUESTS, { direction: "SENT", status: "PENDING" }, first(request));
    again(cache, "recommendations"); // they leave yours while it is pending
  },
  cancelInterest(cache, { data }) {
    const request = data.cancelInterest;
    if (request.__typename !== "InterestRequest") return;
    editNodes(cache, REQUESTS, { direction: "SENT", status: "PENDING" }, without(new Set([request.id])));
    again(cache, "recommendations"); // and come back
  },
  unmatch(cache, { data }) {
    const match = data.unmatch;
    if (match.__typename !== "Match") return;
    editNodes(cache, MATCHES, { status: "ACTIVE" }, without(new Set([match.id])));
  },
  block(cache, { data }) {
    // Everything with them leaves every list.
    if (data.block.__typename === "BlockPayload") again(cache, ...EVERY_LIST);
  },
  unblock(cache, { data }) {
    // And comes back.
    if (data.unblock.__typename === "BlockPayload") again(cache, ...EVERY_LIST);
  },
};

// ---- the others, through plain HTTP ----
async function as(name, query, variables = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${people[name].token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`${name}: ${JSON.stringify(body.errors)}`);
  const [field] = Object.values(body.data);
  if (field && field.code) throw new Error(`${name}: ${JSON.stringify(body.data)}`);
  return field;
}

// ---- watching and comparing ----
const watched = new Map(); // label -> {query, variables, latest}
function watch(label, query, variables = {}) {
  const entry = { query, variables, latest: undefined, errors: [] };
  entry.subscription = client.watchQuery({ query, variables }).subscribe({
    next: (result) => {
      if (result.dataState === "complete") entry.latest = result.data;
    },
    error: (error) => entry.errors.push(String(error)),
  });
  watched.set(label, entry);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function quiet() {
  // Until no request has been in flight for a few polls (watchers refetching what was evicted).
  for (let calm = 0; calm < 5; ) {
    await sleep(20);
    calm = inflight === 0 ? calm + 1 : 0;
  }
}

function summary(value) {
  if (Array.isArray(value) && value.every((x) => x && typeof x === "object" && "id" in x)) {
    return value.map((x) => x.id);
  }
  return value;
}

function differences(cached, server, path, out) {
  const ids = (list) => JSON.stringify(summary(list));
  if (Array.isArray(cached) && Array.isArray(server) && ids(cached) !== ids(server)) {
    // Membership or order differs: one difference, the two lists of ids (or values).
    out.push({ path, cached: summary(cached), server: summary(server) });
  } else if (Array.isArray(cached) && Array.isArray(server)) {
    cached.forEach((item, i) => differences(item, server[i], `${path}.${i}`, out));
  } else if (
    cached && server && typeof cached === "object" && typeof server === "object" &&
    !Array.isArray(cached) && !Array.isArray(server)
  ) {
    for (const key of new Set([...Object.keys(cached), ...Object.keys(server)])) {
      differences(cached[key], server[key], path ? `${path}.${key}` : key, out);
    }
  } else if (JSON.stringify(cached) !== JSON.stringify(server)) {
    out.push({ path, cached: summary(cached) ?? null, server: summary(server) ?? null });
  }
}

const report = { planned: [], steps: [], errors: [] };

async function compareAll(mutation) {
  await quiet();
  const stale = [];
  for (const [label, entry] of watched) {
    const cached = client.readQuery({ query: entry.query, variables: entry.variables });
    const latest = entry.latest;
    const server = (
      await client.query({ query: entry.query, variables: entry.variables, fetchPolicy: "network-only" })
    ).data;
    for (const [source, value] of [["cache", cached], ["watcher", latest]]) {
      const out = [];
      if (value == null) out.push({ path: "", cached: null, server: "(data)" });
      else differences(value, server, "", out);
      for (const d of out) stale.push({ query: label, source, ...d });
    }
    for (const error of entry.errors.splice(0)) report.errors.push(`${label}: ${error}`);
  }
  await quiet(); // the network answers just written reach the watchers
  return stale;
}

async function step(mutation, run) {
  report.planned.push(mutation);
  const result = await run();
  if (result && result.code) throw new Error(`${mutation}: ${JSON.stringify(result)}`);
  report.steps.push({ mutation, compared: watched.size, stale: await compareAll(mutation) });
  return result;
}

async function mutate(name, variables = {}) {
  const { data } = await client.mutate({ mutation: M[name], variables, update: CACHE_UPDATES[name] });
  const field = data[name];
  if (field.code) throw new Error(`${name}: ${JSON.stringify(field)}`);
  return field;
}

async function settle() {
  // Another person acted: what Ann's app would learn by subscription, she learns by refetching.
  await quiet();
  for (const entry of watched.values()) {
    await client.query({ query: entry.query, variables: entry.variables, fetchPolicy: "network-only" });
  }
  await quiet();
}

const { bo, cy, di } = people;
try {
  watch("me", ME);
  watch("matches", MATCHES);
  watch("matches(ACTIVE)", MATCHES, { status: "ACTIVE" });
  watch("conversations", CONVERSATIONS);
  watch("notifications", NOTIFICATIONS);
  watch("notifications(unreadOnly)", NOTIFICATIONS, { unreadOnly: true });
  watch("interestRequests(RECEIVED)", REQUESTS, { direction: "RECEIVED" });
  watch("interestRequests(SENT)", REQUESTS, { direction: "SENT" });
  watch("interestRequests(RECEIVED, PENDING)", REQUESTS, { direction: "RECEIVED", status: "PENDING" });
  watch("interestRequests(SENT, PENDING)", REQUESTS, { direction: "SENT", status: "PENDING" });
  watch("recommendations", RECOMMENDATIONS);
  await quiet();

  const profile = {
    displayName: "Ann", birthDate: "1994-05-06", gender: "WOMAN", intent: "FRIENDSHIP",
    bio: "Climbing and chess.", location: { city: "Lisbon", latitude: 38.72, longitude: -9.14 },
  };
  await step("createProfile", () => mutate("createProfile", { i: profile }));
  await step("updateProfile", () => mutate("updateProfile", { i: { bio: "Now with a new bio." } }));
  await step("updatePreferences", () => mutate("updatePreferences", { i: { ageMax: 99 } }));
  await step("setInterests", () => mutate("setInterests", { names: ["Chess", "go", "climbing"] }));

  // Bo likes Ann first; Ann's like makes the match.
  await as("bo", "mutation($u: ID!) { like(userId: $u) { __typename } }", { u: people.ann.id });
  await settle();
  const liked = await step("like", () => mutate("like", { userId: bo.id }));
  const matchWithBo = liked.match.id;
  const conversationWithBo = (
    await client.query({ query: CONVERSATIONS, fetchPolicy: "network-only" })
  ).data.conversations.nodes.find((c) => c.user?.id && liked.match.user.id === c.user.id).id;
  watch("messages(bo)", MESSAGES, { conversationId: conversationWithBo });

  // Bo writes twice; Ann answers and reads.
  const SEND = `mutation($c: ID!, $b: String!, $k: String!) {
    sendMessage(conversationId: $c, body: $b, clientMessageId: $k) { __typename ... on Message { id } } }`;
  const firstFromBo = await as("bo", SEND, { c: conversationWithBo, b: "Hi Ann", k: "bo-1" });
  await as("bo", SEND, { c: conversationWithBo, b: "Climbing on Sunday?", k: "bo-2" });
  await settle();
  await step("markRead", () => mutate("markRead", { conversationId: conversationWithBo, upTo: firstFromBo.id }));
  await step("sendMessage", () =>
    mutate("sendMessage", { conversationId: conversationWithBo, body: "Yes!", key: "ann-1" }),
  );
  await step("markNotificationsRead", () => mutate("markNotificationsRead"));

  // Cy asks Ann; Ann accepts (a match by interest request).
  const request = await as(
    "cy",
    "mutation($u: ID!) { sendInterest(userId: $u, message: \"Coffee?\") { ... on InterestRequest { id } } }",
    { u: people.ann.id },
  );
  await settle();
  await step("respondToInterest", () => mutate("respondToInterest", { id: request.id, response: "ACCEPT" }));
  // Bo's conversation is the older one now: a message moves it first.
  await step("sendMessage", () =>
    mutate("sendMessage", { conversationId: conversationWithBo, body: "See you there", key: "ann-2" }),
  );

  // Ann asks Di, then thinks better of it.
  const sent = await step("sendInterest", () => mutate("sendInterest", { userId: di.id, message: "Hello" }));
  await step("cancelInterest", () => mutate("cancelInterest", { id: sent.id }));

  await step("unmatch", () => mutate("unmatch", { matchId: matchWithBo }));
  await step("block", () => mutate("block", { userId: cy.id }));
  await step("unblock", () => mutate("unblock", { userId: cy.id }));
  await step("pass", () => mutate("pass", { userId: di.id }));
  await step("undoSwipe", () => mutate("undoSwipe"));
} catch (error) {
  report.errors.push(String(error?.stack ?? error));
}
for (const entry of watched.values()) entry.subscription.unsubscribe();
console.log(JSON.stringify(report));
process.exit(0);
