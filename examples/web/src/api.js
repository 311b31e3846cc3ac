// Talking to Rapport: one Apollo Client whose queries and mutations go over HTTP and whose
// subscriptions go over graphql-transport-ws (graphql-ws) at the same /graphql URL, with the
// token as `Authorization: Bearer` on HTTP and as {token} in connection_init on the socket.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { OperationTypeNode } from "graphql";
import { createClient } from "graphql-ws";

// Where the API is: ?api=URL in the page's address, else VITE_RAPPORT_URL at build time, else
// a local `rapport serve`. (The page is served from another origin: the server's CORS and
// websocket Origin checks must allow it; in development every localhost port is allowed.)
export const API_URL =
  new URLSearchParams(location.search).get("api") ||
  import.meta.env.VITE_RAPPORT_URL ||
  "http://127.0.0.1:8000/graphql";
const WS_URL = API_URL.replace(/^http/, "ws");

export function connect(getToken) {
  const http = new SetContextLink(({ headers }) => {
    const token = getToken();
    return { headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } };
  }).concat(new HttpLink({ uri: API_URL }));

  // lazy: the socket opens with the first subscription, after sign-in, so connection_init
  // carries the token. A 4403 close means the token is no longer valid: sign in again.
  const socket = createClient({
    url: WS_URL,
    lazy: true,
    connectionParams: () => ({ token: getToken() }),
    shouldRetry: (event) => !(event && event.code === 4403),
    retryAttempts: 20,
  });
  const link = ApolloLink.split(
    (operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(socket),
    http,
  );
  // Every answer is read fresh: this client shows what the server says now and keeps no
  // normalised cache to invalidate (a bigger app would use the cache and type policies).
  const noCache = { fetchPolicy: "no-cache" };
  const client = new ApolloClient({
    link,
    cache: new InMemoryCache(),
    defaultOptions: { query: noCache, mutate: noCache, watchQuery: noCache },
  });
  return { client, socket };
}

// Expected failures are data (README: Errors): every result is a union whose failures
// implement Error; a ValidationError also lists its bad fields.
const FAILURE = "... on Error { code message }";
const ERRORS = `${FAILURE} ... on ValidationError { errors { field message } }`;

export const REGISTER = gql`
  mutation Register($input: RegisterInput!) {
    register(input: $input) { __typename ... on RegistrationStarted { email codeExpiresAt } ${ERRORS} }
  }`;

export const CONFIRM = gql`
  mutation Confirm($input: ConfirmRegistrationInput!) {
    confirmRegistration(input: $input) { __typename ... on AuthPayload { token } ${ERRORS} }
  }`;

export const LOGIN = gql`
  mutation Login($input: LoginInput!) {
    login(input: $input) { __typename ... on AuthPayload { token } ${ERRORS} }
  }`;

export const ME = gql`
  query Me {
    me {
      __typename
      ... on Me { id email profile { displayName age city interests } }
      ${FAILURE}
    }
  }`;

export const CREATE_PROFILE = gql`
  mutation CreateProfile($input: CreateProfileInput!) {
    createProfile(input: $input) { __typename ... on OwnProfile { id } ${ERRORS} }
  }`;

export const SET_INTERESTS = gql`
  mutation SetInterests($names: [String!]!) {
    setInterests(names: $names) { __typename ... on InterestsPayload { interests } ${ERRORS} }
  }`;

export const UPDATE_PREFERENCES = gql`
  mutation UpdatePreferences($input: UpdatePreferencesInput!) {
    updatePreferences(input: $input) { __typename ${ERRORS} }
  }`;

export const RECOMMENDATIONS = gql`
  query Recommendations($first: Int) {
    recommendations(first: $first) {
      __typename
      ... on RecommendationConnection {
        nodes {
          score
          user { id displayName age city bio goals interests intent }
          explanation {
            summary sharedInterests goalsAlignment scoreForYou scoreForThem
            alignedGoals { yours theirs similarity }
          }
        }
      }
      ${ERRORS}
    }
  }`;

export const LIKE = gql`
  mutation Like($userId: ID!) {
    like(userId: $userId) { __typename ... on SwipePayload { match { id } } ${ERRORS} }
  }`;

export const PASS = gql`
  mutation Pass($userId: ID!) { pass(userId: $userId) { __typename ${ERRORS} } }`;

export const CONVERSATIONS = gql`
  query Conversations {
    conversations(first: 50) {
      __typename
      ... on ConversationConnection {
        nodes { id open unreadCount online user { id displayName } lastMessage { body mine } }
      }
      ${ERRORS}
    }
  }`;

const MESSAGE = "id body mine createdAt";

export const MESSAGES = gql`
  query Messages($conversationId: ID!) {
    messages(conversationId: $conversationId, first: 50) {
      __typename ... on MessageConnection { nodes { ${MESSAGE} } } ${ERRORS}
    }
  }`;

export const SEND_MESSAGE = gql`
  mutation Send($conversationId: ID!, $body: String!, $clientMessageId: String!) {
    sendMessage(conversationId: $conversationId, body: $body, clientMessageId: $clientMessageId) {
      __typename ... on Message { ${MESSAGE} } ${ERRORS}
    }
  }`;

export const MESSAGE_ADDED = gql`
  subscription MessageAdded($conversationId: ID!, $after: ID) {
    messageAdded(conversationId: $conversationId, after: $after) {
      __typename ... on Message { ${MESSAGE} } ${ERRORS}
    }
  }`;

export const NOTIFICATIONS = gql`
  subscription Notifications {
    notifications { __typename ... on Notification { id kind conversationId } ${ERRORS} }
  }`;

// The development-only route beside /graphql (rapport/dev_outbox.py): the latest sign-up code
// emailed to an address, or null when the server has no such route (test, production) or no
// code. A real app asks the person to type the code from their email instead.
export async function devSignUpCode(email) {
  const url = new URL("/dev/outbox/latest", API_URL);
  url.searchParams.set("email", email);
  try {
    const answer = await fetch(url);
    return answer.ok ? (await answer.json()).code : null;
  } catch {
    return null;
  }
}
