// The operations of tests/clients/relay.mjs, as a Relay app writes them: relay-compiler
// (relay.config.json) reads these graphql tags, checks them against the repository's
// schema.graphql and writes __generated__/ (artifacts and persisted_queries.json; never
// committed). Nothing runs this file: relay.mjs imports the artifacts. They are CommonJS
// ("eagerEsModules": false, and package.json here says so): ES artifacts import each other
// without the .js extension, which Node's ES module loader does not resolve.
const { graphql } = require("relay-runtime");

graphql`
  fragment Rapport_profile on OwnProfile
  @refetchable(queryName: "RapportProfileRefetchQuery") {
    id
    displayName
    bio
    city
    interests
  }
`;

graphql`
  fragment Rapport_conversation on Conversation
  @refetchable(queryName: "RapportConversationRefetchQuery") {
    id
    open
    unreadCount
    user {
      id
      displayName
    }
    lastMessage {
      id
      body
      mine
    }
  }
`;

graphql`
  query RapportHomeQuery {
    me {
      __typename
      ... on Me {
        id
        email
        profile {
          ...Rapport_profile
        }
      }
    }
    conversations(first: 10) {
      __typename
      ... on ConversationConnection {
        edges {
          cursor
          node {
            id
            ...Rapport_conversation
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`;

graphql`
  mutation RapportUpdateProfileMutation($input: UpdateProfileInput!) {
    updateProfile(input: $input) {
      __typename
      ... on OwnProfile {
        ...Rapport_profile @alias(as: "profile")
      }
      ... on Error {
        code
        message
      }
    }
  }
`;

graphql`
  mutation RapportSendMessageMutation($conversationId: ID!, $body: String!, $key: String!) {
    sendMessage(conversationId: $conversationId, body: $body, clientMessageId: $key) {
      __typename
      ... on Message {
        id
        body
      }
      ... on Error {
        code
        message
      }
    }
  }
`;

graphql`
  subscription RapportMessageAddedSubscription($conversationId: ID!, $after: ID) {
    messageAdded(conversationId: $conversationId, after: $after) {
      __typename
      ... on Message {
        id
        body
        mine
        conversation {
          ...Rapport_conversation
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`;
