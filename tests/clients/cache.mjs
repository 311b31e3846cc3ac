// Apollo Client's normalised cache against a live Rapport (run by tests/test_apollo_cache.py).
//   node cache.mjs '{"url": ..., "people": {"ann": {"token", "id", "user", "email"}, "bo": ..., "mo": ...}}'
// Ann's client (InMemoryCache with the generated possibleTypes, nothing else configured; a
// SetContextLink for the token, a GraphQLWsLink for subscriptions) watches the queries an app
// keeps open, runs each mutation with the cache code README Clients → "Apollo Client: cache
// and persisted queries" documents (CACHE_UPDATES, SUBSCRIPTION_UPDATES and switchPerson
// below, word for word), waits until the watchers are quiet, then compares, for every watched
// query, the cache (readQuery) and the watcher's latest result with a network-only answer.
// The others act through plain HTTP: first Ann's app refetches after them (settle), then it
// learns of them by subscription only. Then Ann signs out, in, in as Bo, ..., deletes her
// account, and a new person signs up in the same client: after each switch the cache must
// hold exactly what a new client for the new person would. Last, a moderator's client (Mo)
// watches the reports and the reported people while Mo moderates. Prints one JSON report:
//   {planned: [...], steps: [{mutation, compared, switched, ms, stale: [{query, source, path,
//   cached, server}]}], subscriptions: {label: [__typename of each event]}, errors: [...]}
import { readFileSync } from "node:fs";

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { OperationTypeNode } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

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

// The token the app holds now (null: signed out). HttpLink's own `headers` are fixed when it
// is made, so the header comes from a SetContextLink, per request; the socket sends it in
// connection_init, read when it connects.
let token = people.ann.token;
function httpLink(getToken) {
  const auth = new SetContextLink(({ headers }) => {
    const current = getToken();
    return { headers: current ? { ...headers, authorization: `Bearer ${current}` } : headers };
  });
  return auth.concat(new HttpLink({ uri: url, fetch: countingFetch }));
}
const wsClient = createClient({
  url: url.replace(/^http/, "ws"),
  webSocketImpl: WebSocket,
  connectionParams: () => (token ? { authorization: `Bearer ${token}` } : {}),
});
const isSubscription = ({ query }) => {
  const definition = getMainDefinition(query);
  return definition.kind === "OperationDefinition" && definition.operation === OperationTypeNode.SUBSCRIPTION;
};
const client = new ApolloClient({
  link: ApolloLink.split(isSubscription, new GraphQLWsLink(wsClient), httpLink(() => token)),
  cache: new InMemoryCache({ possibleTypes }),
});
// The moderator's app: another client, another cache, another token.
const moderator = new ApolloClient({
  link: httpLink(() => people.mo.token),
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
  fragment ReportFields on Report {
    id reporterId reportedUserId reason status resolvedAt resolvedBy resolutionNote
  }
  fragment MeFields on Me { id email }
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
export const REPORTS = doc(`query Reports($status: ReportStatus) { reports(status: $status) {
  __typename ... on ReportConnection { nodes { ...ReportFields } } ... on Error { code } } }`);
export const USER = doc(`query User($id: ID!) { user(id: $id) {
  __typename ... on User { id displayName age } ... on Error { code } } }`);

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
  sendTyping: doc(`mutation SendTyping($conversationId: ID!) { sendTyping(conversationId: $conversationId) {
    __typename ... on Sent { ok } ${ERROR} } }`),
  report: doc(`mutation Report($userId: ID!, $reason: ReportReason!, $details: String!) {
    report(userId: $userId, reason: $reason, details: $details) {
      __typename ... on ReportReceipt { id status } ${ERROR} } }`),
  register: doc(`mutation Register($i: RegisterInput!) { register(input: $i) {
    __typename ... on RegistrationStarted { email } ${ERROR} } }`),
  confirmRegistration: doc(`mutation ConfirmRegistration($i: ConfirmRegistrationInput!) {
    confirmRegistration(input: $i) { __typename ... on AuthPayload { token me { ...MeFields } } ${ERROR} } }`),
  login: doc(`mutation Login($i: LoginInput!) { login(input: $i) {
    __typename ... on AuthPayload { token me { ...MeFields } } ${ERROR} } }`),
  changePassword: doc(`mutation ChangePassword($i: ChangePasswordInput!) { changePassword(input: $i) {
    __typename ... on ChangePasswordPayload { revokedTokens me { ...MeFields } } ${ERROR} } }`),
  logout: doc(`mutation Logout { logout { __typename ... on LogoutPayload { revokedTokens } ${ERROR} } }`),
  logoutEverywhere: doc(`mutation LogoutEverywhere { logoutEverywhere {
    __typename ... on LogoutPayload { revokedTokens } ${ERROR} } }`),
  deleteAccount: doc(`mutation DeleteAccount($password: String!) { deleteAccount(password: $password) {
    __typename ... on AccountDeleted { deleted } ${ERROR} } }`),
  suspendUser: doc(`mutation SuspendUser($userId: ID!, $reason: String!) {
    suspendUser(userId: $userId, reason: $reason) {
      __typename ... on Suspension { userId suspendedAt closedReports } ${ERROR} } }`),
  reinstateUser: doc(`mutation ReinstateUser($userId: ID!) { reinstateUser(userId: $userId) {
    __typename ... on Reinstatement { userId } ${ERROR} } }`),
  dismissReport: doc(`mutation DismissReport($id: ID!, $note: String!) { dismissReport(id: $id, note: $note) {
    __typename ... on Report { ...ReportFields } ${ERROR} } }`),
  correctBirthDate: doc(`mutation CorrectBirthDate($userId: ID!, $birthDate: Date!) {
    correctBirthDate(userId: $userId, birthDate: $birthDate) {
      __typename ... on BirthDateCorrection { userId birthDate } ${ERROR} } }`),
};

// Subscriptions, each selecting what the cache needs, as an app's would.
const S = {
  messageAdded: doc(`subscription MessageAdded($conversationId: ID!, $after: ID) {
    messageAdded(conversationId: $conversationId, after: $after) {
      __typename ... on Message { ...MessageFields conversation { ...ConversationFields } } ${ERROR} } }`),
  notifications: doc(`subscription NotificationAdded($after: ID) { notifications(after: $after) {
    __typename ... on Notification { ...NotificationFields } ${ERROR} } }`),
  typing: doc(`subscription Typing($conversationId: ID!) { typing(conversationId: $conversationId) {
    __typename ... on Typing { conversationId userId } ${ERROR} } }`),
  readReceipts: doc(`subscription ReadReceipts($conversationId: ID!) {
    readReceipts(conversationId: $conversationId) {
      __typename ... on ReadReceipt { conversationId userId lastReadId } ${ERROR} } }`),
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

// A message, sent (sendMessage) or received (messageAdded): first in its conversation's
// messages; its conversation, returned with it and so current, first in conversations.
export function addMessage(cache, message) {
  if (message.__typename !== "Message") return;
  editNodes(cache, MESSAGES, { conversationId: message.conversationId }, first(message));
  if (message.conversation) editNodes(cache, CONVERSATIONS, {}, first(message.conversation));
}

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
    addMessage(cache, data.sendMessage);
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
  // Moderators.
  dismissReport(cache, { data }) {
    // It leaves the OPEN list and joins the DISMISSED one.
    if (data.dismissReport.__typename === "Report") again(cache, "reports");
  },
  suspendUser(cache, { data }) {
    const suspension = data.suspendUser;
    if (suspension.__typename !== "Suspension") return;
    forgetUser(cache, suspension.userId);
    again(cache, "reports"); // their open reports are closed
  },
  reinstateUser(cache, { data }) {
    if (data.reinstateUser.__typename === "Reinstatement") forgetUser(cache, data.reinstateUser.userId);
  },
  correctBirthDate(cache, { data }) {
    // Their age changed; the answer has no User to merge.
    if (data.correctBirthDate.__typename === "BirthDateCorrection") forgetUser(cache, data.correctBirthDate.userId);
  },
};

// A person changed with no User in the answer: drop them and the `user(id)` answer showing
// them (for a suspended person that is a NotFound, which has no id to evict by).
export function forgetUser(cache, id) {
  cache.evict({ id: cache.identify({ __typename: "User", id }) });
  cache.evict({ id: "ROOT_QUERY", fieldName: "user", args: { id } });
  cache.gc();
}

// What other people do, as subscriptions tell it (each event's objects are merged by id, as
// a mutation's answer is; these edit the lists).
const NOTIFIED = { // the lists each kind of notification changes
  INTEREST_RECEIVED: ["interestRequests", "recommendations"], // they leave yours while pending
  INTEREST_ACCEPTED: ["interestRequests", "matches", "conversations", "recommendations"],
  NEW_MATCH: ["matches", "conversations", "recommendations"],
  NEW_MESSAGE: ["conversations", "messages"], // in a conversation without messageAdded open
};
export const SUBSCRIPTION_UPDATES = {
  messageAdded(cache, { data }) {
    addMessage(cache, data.messageAdded); // select the Message's conversation { ... } too
  },
  notifications(cache, { data }) {
    const notification = data.notifications;
    if (notification.__typename !== "Notification") return;
    editNodes(cache, NOTIFICATIONS, {}, first(notification));
    editNodes(cache, NOTIFICATIONS, { unreadOnly: true }, first(notification));
    again(cache, ...(NOTIFIED[notification.kind] ?? []));
  },
  // typing, readReceipts: nothing in the cache (a receipt is the other member's read mark)
};

// Signing in, out, or in as someone else (login, confirmRegistration, logout,
// logoutEverywhere, deleteAccount): after the mutation, with the app's subscriptions stopped.
export async function switchPerson(newToken) {
  token = newToken;
  wsClient.terminate(); // a socket is authenticated once: the next subscription opens another
  await client.resetStore(); // forget everyone; every watched query runs again, as the new person
}

// ---- the others, through plain HTTP ----
async function as(name, query, variables = {}, { refusals = false } = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${people[name].token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`${name}: ${JSON.stringify(body.errors)}`);
  const [field] = Object.values(body.data);
  if (field && field.code && !refusals) throw new Error(`${name}: ${JSON.stringify(body.data)}`);
  return field;
}

// ---- watching and comparing ----
const watched = new Map(); // label -> {apollo, query, variables, latest}
function watch(label, query, variables = {}, apollo = client) {
  const entry = { apollo, query, variables, latest: undefined, errors: [] };
  entry.subscription = apollo.watchQuery({ query, variables }).subscribe({
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

const report = { planned: [], steps: [], subscriptions: {}, errors: [] };

async function compareAll(mutation) {
  await quiet();
  // What every watched query holds, all read before any answer is written (an answer to one
  // query updates the objects another shows), then the server's answers, all at once.
  const held = [...watched].map(([label, entry]) => ({
    label,
    entry,
    cached: entry.apollo.readQuery({ query: entry.query, variables: entry.variables }),
    latest: entry.latest,
  }));
  const answers = await Promise.all(
    held.map(({ entry }) =>
      entry.apollo.query({ query: entry.query, variables: entry.variables, fetchPolicy: "network-only" }),
    ),
  );
  const stale = [];
  held.forEach(({ label, entry, cached, latest }, i) => {
    const server = answers[i].data;
    for (const [source, value] of [["cache", cached], ["watcher", latest]]) {
      const out = [];
      if (value == null) out.push({ path: "", cached: null, server: "(data)" });
      else differences(value, server, "", out);
      for (const d of out) stale.push({ query: label, source, ...d });
    }
    for (const error of entry.errors.splice(0)) report.errors.push(`${label}: ${error}`);
  });
  await quiet(); // the network answers just written reach the watchers
  return stale;
}

// The whole cache after a switch of person: exactly what a new client holds once it has run
// the same watched queries as the new person (nothing of the one before, nothing missing).
async function leftovers() {
  await quiet();
  const fresh = new ApolloClient({ link: httpLink(() => token), cache: new InMemoryCache({ possibleTypes }) });
  for (const entry of watched.values()) {
    if (entry.apollo !== client) continue;
    await fresh.query({ query: entry.query, variables: entry.variables, fetchPolicy: "network-only" });
  }
  const kept = ([id]) => !["ROOT_MUTATION", "ROOT_SUBSCRIPTION", "__META"].includes(id);
  const normalised = (apollo) => Object.fromEntries(Object.entries(apollo.cache.extract()).filter(kept));
  const out = [];
  differences(normalised(client), normalised(fresh), "", out);
  fresh.stop();
  return out.map((d) => ({ query: "(the whole cache)", source: "cache.extract()", ...d }));
}

async function step(mutation, run, { switched = false } = {}) {
  report.planned.push(mutation);
  const started = Date.now();
  const result = await run();
  if (result && result.code) throw new Error(`${mutation}: ${JSON.stringify(result)}`);
  const stale = await compareAll(mutation);
  if (switched) stale.push(...(await leftovers()));
  report.steps.push({ mutation, compared: watched.size, switched, ms: Date.now() - started, stale });
  return result;
}

async function mutate(name, variables = {}, apollo = client) {
  const { data } = await apollo.mutate({ mutation: M[name], variables, update: CACHE_UPDATES[name] });
  const field = data[name];
  if (field.code) throw new Error(`${name}: ${JSON.stringify(field)}`);
  return field;
}

async function settle() {
  // Another person acted: what Ann's app would learn by subscription, she learns by refetching.
  await quiet();
  for (const entry of watched.values()) {
    await entry.apollo.query({ query: entry.query, variables: entry.variables, fetchPolicy: "network-only" });
  }
  await quiet();
}

// ---- subscriptions: what Ann's app learns of the others, with no refetch ----
const live = new Map(); // label -> {subscription, events}
function listen(label, query, variables = {}) {
  const entry = { events: [] };
  entry.subscription = client.subscribe({ query, variables }).subscribe({
    next: (result) => {
      // Apollo has written the event (its objects merged by id); the app's code does the rest.
      if (result.error) report.errors.push(`${label}: ${result.error}`);
      if (!result.data) return;
      const [field] = Object.keys(result.data);
      SUBSCRIPTION_UPDATES[field]?.(client.cache, result);
      entry.events.push(result.data[field]);
    },
    error: (error) => report.errors.push(`${label}: ${error}`),
  });
  live.set(label, entry);
  return entry;
}
function stopListening() {
  for (const [label, entry] of live) {
    entry.subscription.unsubscribe();
    report.subscriptions[label] = entry.events.map((event) => event.__typename);
  }
  live.clear();
}

async function until(what, done, { retry, every = 250, timeout = 10000 } = {}) {
  // Until done(); with retry, repeated every `every` ms (typing is sent again and again anyway).
  const start = Date.now();
  let last = 0;
  while (!done()) {
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for ${what}`);
    if (retry && Date.now() - last >= every) {
      last = Date.now();
      await retry();
    }
    await sleep(20);
  }
}

// The test's own check, outside Apollo (nothing written to the cache): the newest
// notification the server holds for a person has come over their subscription.
async function notificationsDelivered(name, entry, known) {
  const page = await as(name, "{ notifications(first: 1) { ... on NotificationConnection { nodes { id } } } }");
  const newest = page.nodes[0]?.id;
  const arrived = () => !newest || known.has(newest) || entry.events.some((n) => n.id === newest);
  await until(`notification ${newest}`, arrived);
}
const newestId = (query, variables) => {
  const data = client.readQuery({ query, variables });
  return Object.values(data ?? {})[0]?.nodes?.[0]?.id ?? null;
};



const { bo, cy, di, ed, fi, mo } = people;
const NEW_PASSWORD = "a newer horse battery staple";
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

  // ---- 1. Ann's own mutations; after the others act, her app refetches (settle) ----
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
  const conversationWithBo = liked.match.conversation.id;
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
  const accepted = await step("respondToInterest", () =>
    mutate("respondToInterest", { id: request.id, response: "ACCEPT" }),
  );
  const conversationWithCy = accepted.match.conversation.id;
  // Bo's conversation is the older one now: a message moves it first.
  await step("sendMessage", () =>
    mutate("sendMessage", { conversationId: conversationWithBo, body: "See you there", key: "ann-2" }),
  );

  // Ann asks Di, then thinks better of it.
  const sent = await step("sendInterest", () => mutate("sendInterest", { userId: di.id, message: "Hello" }));
  await step("cancelInterest", () => mutate("cancelInterest", { id: sent.id }));

  await step("unmatch", () => mutate("unmatch", { matchId: matchWithBo }));
  await step("report", () => mutate("report", { userId: bo.id, reason: "HARASSMENT", details: "Rude." }));
  await step("block", () => mutate("block", { userId: cy.id }));
  await step("unblock", () => mutate("unblock", { userId: cy.id }));
  await step("pass", () => mutate("pass", { userId: di.id }));
  await step("undoSwipe", () => mutate("undoSwipe"));

  // ---- 2. The others act; Ann's app holds subscriptions and refetches nothing ----
  watch("messages(cy)", MESSAGES, { conversationId: conversationWithCy });
  await quiet();
  // Each from where the cache stands, so that nothing between the query and the
  // subscription is missed (`after`: the newest id held).
  const knownNotifications = new Set(
    client.readQuery({ query: NOTIFICATIONS }).notifications.nodes.map((n) => n.id),
  );
  const notified = listen("notifications", S.notifications, { after: newestId(NOTIFICATIONS, {}) });
  const added = listen("messageAdded(cy)", S.messageAdded, {
    conversationId: conversationWithCy, after: newestId(MESSAGES, { conversationId: conversationWithCy }),
  });
  const typing = listen("typing(cy)", S.typing, { conversationId: conversationWithCy });
  const receipts = listen("readReceipts(cy)", S.readReceipts, { conversationId: conversationWithCy });
  const annSees = () => notificationsDelivered("ann", notified, knownNotifications);

  await step("sendTyping", () => mutate("sendTyping", { conversationId: conversationWithCy }));
  await step("typing (Cy types)", () =>
    until("typing", () => typing.events.length > 0, {
      retry: () => as("cy", "mutation($c: ID!) { sendTyping(conversationId: $c) { __typename } }",
        { c: conversationWithCy }, { refusals: true }),
    }),
  );
  await step("messageAdded (Cy writes)", async () => {
    const message = await as("cy", SEND, { c: conversationWithCy, b: "Free tonight?", k: "cy-1" });
    await until("Cy's message", () => added.events.some((m) => m.id === message.id));
    await annSees(); // a NEW_MESSAGE only if the server did not yet see Ann watching
  });
  const answer = await step("sendMessage", async () => {
    const message = await mutate("sendMessage", { conversationId: conversationWithCy, body: "Yes", key: "ann-3" });
    await until("Ann's own message", () => added.events.some((m) => m.id === message.id));
    return message;
  });
  await step("readReceipts (Cy reads Ann's message)", () =>
    until("a read receipt", () => receipts.events.some((r) => r.lastReadId === answer.id), {
      retry: () => as("cy", "mutation($c: ID!, $u: ID!) { markRead(conversationId: $c, upTo: $u) { __typename } }",
        { c: conversationWithCy, u: answer.id }),
    }),
  );
  await step("notifications: INTEREST_RECEIVED (Di asks Ann)", async () => {
    await as("di", "mutation($u: ID!) { sendInterest(userId: $u, message: \"Hi\") { __typename } }", { u: people.ann.id });
    await annSees();
  });
  await step("like", () => mutate("like", { userId: ed.id }));
  await step("notifications: NEW_MATCH (Ed likes back)", async () => {
    await as("ed", "mutation($u: ID!) { like(userId: $u) { __typename } }", { u: people.ann.id });
    await annSees();
  });
  const conversationWithEd = client
    .readQuery({ query: CONVERSATIONS })
    .conversations.nodes.find((c) => c.user?.id === ed.user).id;
  watch("messages(ed)", MESSAGES, { conversationId: conversationWithEd });
  await quiet();
  await step("notifications: NEW_MESSAGE (Ed writes, no messageAdded open)", async () => {
    await as("ed", SEND, { c: conversationWithEd, b: "Hello Ann", k: "ed-1" });
    await annSees();
  });
  const toFi = await step("sendInterest", () => mutate("sendInterest", { userId: fi.id, message: "Tea?" }));
  await step("notifications: INTEREST_ACCEPTED (Fi accepts)", async () => {
    await as("fi", "mutation($id: ID!) { respondToInterest(id: $id, response: ACCEPT) { __typename } }", { id: toFi.id });
    await annSees();
  });
  stopListening();

  // ---- 3. Signing out and in, as the same person and as others ----
  await step("changePassword", () =>
    mutate("changePassword", { i: { currentPassword: people.ann.password, newPassword: NEW_PASSWORD } }),
  );
  const signIn = async (email, password) => {
    const payload = await mutate("login", { i: { email, password } });
    await switchPerson(payload.token);
    return payload;
  };
  const signOut = (name, variables) => async () => {
    const payload = await mutate(name, variables);
    await switchPerson(null);
    return payload;
  };
  await step("logout", signOut("logout"), { switched: true });
  await step("login", () => signIn(people.ann.email, NEW_PASSWORD), { switched: true });
  await step("login (as someone else: Bo)", () => signIn(bo.email, bo.password), { switched: true });
  // Bo's subscriptions on the new socket: his, not Ann's.
  const boKnown = new Set(client.readQuery({ query: NOTIFICATIONS }).notifications.nodes.map((n) => n.id));
  const boNotified = listen("notifications (Bo)", S.notifications, { after: newestId(NOTIFICATIONS, {}) });
  await step("notifications: INTEREST_RECEIVED (Di asks Bo)", async () => {
    await as("di", "mutation($u: ID!) { sendInterest(userId: $u, message: \"Hi\") { __typename } }", { u: bo.id });
    await notificationsDelivered("bo", boNotified, boKnown);
  });
  stopListening();
  await step("logoutEverywhere", signOut("logoutEverywhere"), { switched: true });
  await step("login", () => signIn(people.ann.email, NEW_PASSWORD), { switched: true });
  await step("deleteAccount", signOut("deleteAccount", { password: NEW_PASSWORD }), { switched: true });
  // A new person signs up in the same app.
  const eve = { email: `cache-eve-${Date.now()}@example.com`, password: NEW_PASSWORD };
  await step("register", () => mutate("register", { i: eve }));
  await step("confirmRegistration", async () => {
    const outbox = await fetch(`${url.replace(/\/graphql$/, "")}/dev/outbox/latest?email=${encodeURIComponent(eve.email)}`);
    const { code } = await outbox.json();
    const payload = await mutate("confirmRegistration", { i: { ...eve, code } });
    await switchPerson(payload.token);
    return payload;
  }, { switched: true });

  // ---- 4. A moderator's client: the reports and the people reported ----
  await as("di", "mutation($u: ID!) { report(userId: $u, reason: SPAM, details: \"Ads.\") { __typename } }", { u: cy.id });
  watch("mo: reports", REPORTS, {}, moderator);
  watch("mo: reports(DISMISSED)", REPORTS, { status: "DISMISSED" }, moderator);
  watch("mo: reports(ACTION_TAKEN)", REPORTS, { status: "ACTION_TAKEN" }, moderator);
  watch("mo: user(cy)", USER, { id: cy.user }, moderator);
  watch("mo: user(di)", USER, { id: di.user }, moderator);
  await quiet();
  const open = moderator.readQuery({ query: REPORTS }).reports.nodes;
  const aboutBo = open.find((r) => r.reason === "HARASSMENT").id;
  await step("dismissReport", () => mutate("dismissReport", { id: aboutBo, note: "Not enough to act on." }, moderator));
  await step("suspendUser", () => mutate("suspendUser", { userId: cy.user, reason: "Spam." }, moderator));
  await step("reinstateUser", () => mutate("reinstateUser", { userId: cy.user }, moderator));
  await step("correctBirthDate", () =>
    mutate("correctBirthDate", { userId: di.user, birthDate: "1990-02-03" }, moderator),
  );
} catch (error) {
  report.errors.push(String(error?.stack ?? error));
}
stopListening();
for (const entry of watched.values()) entry.subscription.unsubscribe();
await wsClient.dispose();
console.log(JSON.stringify(report));
process.exit(0);
