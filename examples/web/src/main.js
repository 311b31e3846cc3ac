// Rapport's reference web client: plain DOM, one Apollo Client (src/api.js). Three views:
// signing in (or up), creating a profile, and the app itself: recommendations with their
// explanations, matches, and a live chat.
import "./style.css";
import * as api from "./api.js";

const TOKEN_KEY = "rapport.token"; // per tab (sessionStorage): two tabs can be two people
let token = sessionStorage.getItem(TOKEN_KEY);
const { client, socket } = api.connect(() => token);
// The live connection's state, shown in the header (and read by tests/test_web_client.py).
socket.on("connected", () => (document.body.dataset.socket = "open"));
socket.on("closed", () => (document.body.dataset.socket = "closed"));

// State of the signed-in view.
let openConversation = null; // {id, name}
let messages = new Map(); // id -> message, of the open conversation
let chatSubscription = null;

// ---- small DOM helpers ----------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value !== false && value != null) el.setAttribute(key, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}
const $ = (selector) => document.querySelector(selector);
const app = $("#app");

function say(text, kind = "info") {
  const status = $("#status");
  status.textContent = text;
  status.className = kind;
}

// A failure is data: the union member implementing Error (and a ValidationError's fields).
function failureText(result) {
  const fields = (result.errors || []).map((e) => `${e.field}: ${e.message}`);
  return [result.message || result.__typename, ...fields].join(" — ");
}

async function run(operation, variables, field) {
  const isMutation = operation.definitions[0].operation === "mutation";
  const answer = isMutation
    ? await client.mutate({ mutation: operation, variables })
    : await client.query({ query: operation, variables });
  const result = answer.data[field];
  if (result.code) throw new Error(failureText(result));
  return result;
}

// Buttons run async work; errors are shown, not lost.
function action(fn) {
  return async (event) => {
    event?.preventDefault();
    try {
      await fn(event);
    } catch (error) {
      say(error.message, "error");
    }
  };
}

function value(name) {
  return $(`[name="${name}"]`).value.trim();
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // works on plain http too
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- signing in and up ------------------------------------------------------------------
function signedIn(newToken) {
  token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  return start();
}

function authView() {
  const codeRow = h(
    "p",
    { id: "code-row", hidden: true },
    h("label", {}, "Code from the email ", h("input", { name: "code", inputmode: "numeric", size: 8 })),
    h("button", { type: "button", "data-testid": "confirm", onclick: action(confirm) }, "Confirm"),
  );

  async function signUp() {
    const input = { email: value("email"), password: $('[name="password"]').value };
    const started = await run(api.REGISTER, { input }, "register");
    codeRow.hidden = false;
    const code = await api.devSignUpCode(started.email);
    if (code === null) return say(`A code was emailed to ${started.email}: type it above.`);
    $('[name="code"]').value = code;
    say("Code read from the server's development outbox.");
    await confirm();
  }

  async function confirm() {
    const input = {
      email: value("email"),
      password: $('[name="password"]').value,
      code: value("code"),
    };
    const auth = await run(api.CONFIRM, { input }, "confirmRegistration");
    await signedIn(auth.token);
  }

  async function logIn() {
    const input = { email: value("email"), password: $('[name="password"]').value };
    await signedIn((await run(api.LOGIN, { input }, "login")).token);
  }

  return h(
    "form",
    { class: "card narrow", onsubmit: action(signUp) },
    h("h2", {}, "Sign up or log in"),
    h("label", {}, "Email", h("input", { name: "email", type: "email", required: true })),
    h(
      "label",
      {},
      "Password (10 characters or more)",
      h("input", { name: "password", type: "password", minlength: 10, required: true }),
    ),
    h(
      "p",
      {},
      h("button", { type: "submit", "data-testid": "sign-up" }, "Sign up"),
      " ",
      h("button", { type: "button", onclick: action(logIn) }, "Log in"),
    ),
    codeRow,
  );
}

// ---- the profile --------------------------------------------------------------------------
const GENDERS = ["WOMAN", "MAN", "NON_BINARY", "OTHER"];
const INTENTS = ["DATING", "FRIENDSHIP", "MENTORSHIP"];
const words = (s) => s.toLowerCase().replace("_", " ");

function choice(name, options) {
  return h("select", { name }, options.map((o) => h("option", { value: o }, words(o))));
}

function profileView() {
  const field = (label, input) => h("label", {}, label, input);
  const wanted = h(
    "fieldset",
    {},
    h("legend", {}, "Show me"),
    GENDERS.map((g) => h("label", { class: "inline" }, h("input", { type: "checkbox", name: "want", value: g, checked: true }), words(g))),
  );

  async function save() {
    const number = (name) => (value(name) === "" ? null : Number(value(name)));
    const intent = value("intent");
    const profile = {
      displayName: value("displayName"),
      birthDate: value("birthDate"),
      gender: value("gender"),
      intent,
      bio: value("bio"),
      goals: value("goals"),
      location: value("city")
        ? { city: value("city"), latitude: number("latitude"), longitude: number("longitude") }
        : null,
    };
    await run(api.CREATE_PROFILE, { input: profile }, "createProfile");
    const interests = value("interests").split(",").map((s) => s.trim()).filter(Boolean);
    await run(api.SET_INTERESTS, { names: interests }, "setInterests");
    const genders = [...document.querySelectorAll('[name="want"]:checked')].map((c) => c.value);
    const preferences = { genders, intents: [intent], maxDistanceKm: number("maxDistanceKm") };
    for (const name of ["ageMin", "ageMax"]) if (number(name) !== null) preferences[name] = number(name);
    await run(api.UPDATE_PREFERENCES, { input: preferences }, "updatePreferences");
    await start();
  }

  return h(
    "form",
    { class: "card narrow", onsubmit: action(save) },
    h("h2", {}, "Your profile"),
    field("Name", h("input", { name: "displayName", required: true })),
    field("Birth date", h("input", { name: "birthDate", type: "date", required: true })),
    h("div", { class: "row" }, field("Gender", choice("gender", GENDERS)), field("Here for", choice("intent", INTENTS))),
    field("About you", h("textarea", { name: "bio", rows: 2 })),
    field("Your goals", h("textarea", { name: "goals", rows: 2 })),
    field("Interests (comma-separated)", h("input", { name: "interests" })),
    h(
      "div",
      { class: "row" },
      field("City", h("input", { name: "city" })),
      field("Latitude", h("input", { name: "latitude", type: "number", step: "any" })),
      field("Longitude", h("input", { name: "longitude", type: "number", step: "any" })),
    ),
    wanted,
    h(
      "div",
      { class: "row" },
      field("Ages from", h("input", { name: "ageMin", type: "number", value: 18 })),
      field("to", h("input", { name: "ageMax", type: "number", value: 99 })),
      field("Within km (empty: anywhere)", h("input", { name: "maxDistanceKm", type: "number" })),
    ),
    h("p", {}, h("button", { type: "submit", "data-testid": "save-profile" }, "Save profile")),
  );
}

// ---- recommendations, matches and chat ----------------------------------------------------
function appView(me) {
  return h(
    "div",
    { class: "columns" },
    h(
      "section",
      { class: "card" },
      h(
        "h2",
        {},
        "Recommended for you ",
        h("button", { class: "secondary", "data-testid": "refresh", onclick: action(showRecommendations) }, "Refresh"),
      ),
      h("div", { id: "recommendations" }),
    ),
    h("section", { class: "card" }, h("h2", {}, "Matches"), h("ul", { id: "matches" })),
    h(
      "section",
      { class: "card chat" },
      h("h2", { id: "chat-title" }, "Chat"),
      h("ol", { id: "messages", "data-testid": "messages" }),
      h(
        "form",
        { id: "composer", hidden: true, onsubmit: action(send) },
        h("input", { name: "body", placeholder: `Write as ${me.profile.displayName}…`, autocomplete: "off" }),
        h("button", { type: "submit", "data-testid": "send" }, "Send"),
      ),
    ),
  );
}

const percent = (x) => `${Math.round(x * 100)}%`;

async function showRecommendations() {
  const result = await run(api.RECOMMENDATIONS, { first: 10 }, "recommendations");
  const list = $("#recommendations");
  if (!list) return;
  list.replaceChildren(
    ...(result.nodes.length
      ? result.nodes.map(recommendationCard)
      : [h("p", { class: "muted" }, "Nobody new for now.")]),
  );
}

function recommendationCard({ user, score, explanation: why }) {
  const swipe = (operation, field, done) =>
    action(async () => {
      const result = await run(operation, { userId: user.id }, field);
      say(done(result));
      await Promise.all([showRecommendations(), showMatches()]);
    });
  return h(
    "article",
    { class: "person", "data-testid": "recommendation", "data-name": user.displayName },
    h("h3", {}, `${user.displayName}, ${user.age}`, user.city ? h("span", { class: "muted" }, ` · ${user.city}`) : null),
    h("p", {}, user.bio),
    h("p", { class: "goals" }, h("b", {}, "Goals: "), user.goals),
    h(
      "div",
      { class: "why", "data-testid": "explanation" },
      h("p", {}, h("b", {}, `Why (score ${score.toFixed(2)}): `), why.summary),
      why.sharedInterests.length ? h("p", {}, "Shared interests: ", why.sharedInterests.map((i) => h("span", { class: "tag" }, i))) : null,
      why.alignedGoals.length
        ? h("ul", {}, why.alignedGoals.map((g) => h("li", {}, `“${g.yours}” ↔ “${g.theirs}” (${percent(g.similarity)})`)))
        : null,
      h("p", { class: "muted" }, `Goals alike ${percent(why.goalsAlignment)} · they suit you ${percent(why.scoreForYou)} · you suit them ${percent(why.scoreForThem)}`),
    ),
    h(
      "p",
      {},
      h("button", { "data-testid": "like", onclick: swipe(api.LIKE, "like", (r) => (r.match ? `It's a match with ${user.displayName}!` : `You liked ${user.displayName}.`)) }, "Like"),
      " ",
      h("button", { class: "secondary", onclick: swipe(api.PASS, "pass", () => `You passed on ${user.displayName}.`) }, "Pass"),
    ),
  );
}

async function showMatches() {
  const result = await run(api.CONVERSATIONS, {}, "conversations");
  const list = $("#matches");
  if (!list) return;
  list.replaceChildren(
    ...(result.nodes.length
      ? result.nodes.map((c) => {
          const name = c.user ? c.user.displayName : "(account gone)";
          const last = c.lastMessage ? `${c.lastMessage.mine ? "You: " : ""}${c.lastMessage.body}` : "Say hello!";
          return h(
            "li",
            {},
            h(
              "button",
              { class: "match", "data-testid": "match", "data-name": name, onclick: action(() => openChat(c.id, name)) },
              h("b", {}, name),
              c.online ? h("span", { class: "online", title: "online" }, " ●") : null,
              c.unreadCount ? h("span", { class: "badge" }, String(c.unreadCount)) : null,
              h("br"),
              h("span", { class: "muted" }, last),
            ),
          );
        })
      : [h("li", { class: "muted" }, "No matches yet: like someone who likes you back.")]),
  );
}

// Ids are opaque (compare them only for equality): order by time sent, ties in arrival order.
const byTime = (a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt);

function addMessages(...added) {
  for (const m of added) messages.set(m.id, m);
  $("#messages").replaceChildren(
    ...[...messages.values()].sort(byTime).map((m) =>
      h("li", { class: m.mine ? "mine" : "theirs", "data-testid": "message" }, m.body),
    ),
  );
  $("#messages").scrollTop = $("#messages").scrollHeight;
}

async function openChat(conversationId, name) {
  chatSubscription?.unsubscribe();
  openConversation = { id: conversationId, name };
  messages = new Map();
  $("#chat-title").textContent = `Chat with ${name}`;
  $("#composer").hidden = false;
  const history = await run(api.MESSAGES, { conversationId }, "messages");
  addMessages(...history.nodes);
  // Everything after the newest message read ("0": from the start), then each new one, live:
  // none missed between the read and the subscription, none twice.
  const after = history.nodes.length ? history.nodes[0].id : "0";
  chatSubscription = client
    .subscribe({ query: api.MESSAGE_ADDED, variables: { conversationId, after } })
    .subscribe({
      next: ({ data, error }) => {
        if (error) return say(error.message, "error");
        const m = data.messageAdded;
        if (m.code) return say(failureText(m), "error");
        if (openConversation?.id === conversationId) addMessages(m);
        showMatches().catch(() => {}); // its last message
      },
      error: (error) => say(`Live chat stopped: ${error.message}`, "error"),
    });
  $('[name="body"]').focus();
}

async function send() {
  const input = $('[name="body"]');
  const body = input.value.trim();
  if (!body || !openConversation) return;
  const variables = { conversationId: openConversation.id, body, clientMessageId: randomId() };
  const message = await run(api.SEND_MESSAGE, variables, "sendMessage");
  input.value = "";
  addMessages(message);
}

// New matches and messages elsewhere arrive as notifications: refresh the lists.
function watchNotifications() {
  client.subscribe({ query: api.NOTIFICATIONS }).subscribe({
    next: ({ data }) => {
      const n = data?.notifications;
      if (!n || n.code) return;
      if (n.kind === "NEW_MATCH" || n.kind === "INTEREST_ACCEPTED") {
        say("You have a new match!");
        showRecommendations().catch(() => {});
      }
      showMatches().catch(() => {});
    },
    error: (error) => say(`Live updates stopped: ${error.message}`, "error"),
  });
}

// ---- start -----------------------------------------------------------------------------
function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload(); // a fresh page: no subscription or socket of the old token is left
}

async function start() {
  const who = $("#who");
  who.replaceChildren();
  if (!token) {
    app.replaceChildren(authView());
    return;
  }
  const me = (await client.query({ query: api.ME })).data.me;
  if (me.__typename !== "Me") {
    token = null; // expired or revoked
    sessionStorage.removeItem(TOKEN_KEY);
    say("Please sign in again.");
    return start();
  }
  who.append(me.profile ? me.profile.displayName : me.email, " ", h("button", { class: "secondary", onclick: signOut }, "Sign out"));
  if (!me.profile) {
    app.replaceChildren(profileView());
    return;
  }
  app.replaceChildren(appView(me));
  watchNotifications();
  await Promise.all([showRecommendations(), showMatches()]);
}

$("#api").textContent = api.API_URL;
start().catch((error) => say(error.message, "error"));
