"""Query limits (schema/limits.py): cost counted as GitHub's GraphQL API counts it, refused over
RAPPORT_MAX_QUERY_NODES; page sizes; batching off; "Did you mean ...?" hidden in production;
introspection switchable; all of it without defeating the parse and validation caches.

Depth, alias and token limits on the real schema: tests/test_review_fixes.py::test_query_limits.
Masked unexpected errors: tests/test_http.py::test_unexpected_errors_are_masked_...
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from graphql import GraphQLInterfaceType, GraphQLObjectType, build_schema, parse, validate

from schema import schema
from schema.limits import (
    _LIMIT_RULES,
    DOCUMENTS,
    MAX_DEPTH,
    QueryCost,
    is_connection,
    query_cost,
)
from tests.support.gql import Gql
from tests.support.settings import make_settings

# GitHub's own examples ("Rate limits and node limits for the GraphQL API"), on a schema shaped
# like theirs. A recursive type, so the depth limit can be reached (Rapport's schema is 6 deep).
GITHUB = build_schema(
    """
    type Query { viewer: User! }
    type User { login: String! followers(first: Int): UserConnection!
                repositories(first: Int): RepositoryConnection! }
    type UserConnection { nodes: [User!]! }
    type RepositoryConnection { edges: [RepositoryEdge!]! }
    type RepositoryEdge { node: Repository! }
    type Repository { name: String! owner: User!
                      issues(first: Int): IssueConnection!
                      pullRequests(first: Int): PullRequestConnection!
                      labels(first: Int = 30): LabelConnection! }
    type IssueConnection { totalCount: Int! edges: [IssueEdge!]! }
    type IssueEdge { node: Issue! }
    type Issue { title: String! labels(first: Int): LabelConnection!
                 comments(first: Int): CommentConnection! }
    type PullRequestConnection { edges: [PullRequestEdge!]! }
    type PullRequestEdge { node: PullRequest! }
    type PullRequest { title: String! comments(first: Int): CommentConnection! }
    type CommentConnection { edges: [CommentEdge!]! }
    type CommentEdge { node: Comment! }
    type Comment { bodyHTML: String! }
    type LabelConnection { edges: [LabelEdge!]! }
    type LabelEdge { node: Label! }
    type Label { name: String! }
    """
)
GITHUB_SIMPLE = """query { viewer { repositories(first: 50) { edges { repository: node { name
  issues(first: 10) { totalCount edges { node { title } } } } } } } }"""
GITHUB_COMPLEX = """query { viewer {
  repositories(first: 50) { edges { repository: node { name
    pullRequests(first: 20) { edges { pullRequest: node { title
      comments(first: 10) { edges { comment: node { bodyHTML } } } } } }
    issues(first: 20) { totalCount edges { issue: node { title
      comments(first: 10) { edges { comment: node { bodyHTML } } } } } } } } }
  followers(first: 10) { nodes { login } } } }"""
GITHUB_RATE_LIMIT = """query { viewer { repositories(first: 100) { edges { node { name
  issues(first: 50) { edges { node { title labels(first: 60) { edges { node { name } } } } } }
} } } } }"""


def github_cost(query: str, variables: dict[str, Any] | None = None, **kw: Any) -> QueryCost:
    document = parse(query)
    assert validate(GITHUB, document) == []
    sizes = {"default_size": 20, "max_size": 100} | kw
    return query_cost(GITHUB, document, variables, **sizes)


@pytest.mark.parametrize(
    ("query", "nodes", "requests", "points"),
    [
        (GITHUB_SIMPLE, 550, 51, 1),  # GitHub: 50 + 50 x 10 = 550 nodes
        (GITHUB_COMPLEX, 22_060, 2_102, 21),  # GitHub: 22,060 nodes
        (GITHUB_RATE_LIMIT, 305_100, 5_101, 51),  # GitHub: 5,101 requests, 51 points
    ],
)
def test_cost_is_counted_as_github_counts_it(query, nodes, requests, points) -> None:
    cost = github_cost(query, max_size=100)
    assert (cost.nodes, cost.requests, cost.points) == (nodes, requests, points)


def test_cost_follows_variables_defaults_fragments_and_merged_fields() -> None:
    nested = "repositories(first: $r) { edges { node { issues(first: $i) { totalCount } } } }"
    query = f"query($r: Int, $i: Int = 7) {{ viewer {{ {nested} }} }}"
    assert github_cost(query, {"r": 3, "i": 5}).nodes == 3 + 3 * 5
    assert github_cost(query, {"r": 3}).nodes == 3 + 3 * 7  # the variable's default
    assert github_cost(query, {"r": None, "i": None}).nodes == 20 + 20 * 20  # null: default size
    assert github_cost(query, {"r": 1000, "i": 5}).nodes == 100 + 100 * 5  # at most the maximum
    # Omitted: the field's own default (labels: 30), else the default page size.
    assert github_cost(
        "{ viewer { repositories { edges { node { labels { __typename } } } } } }"
    ) == QueryCost(nodes=20 + 20 * 30, requests=1 + 20)
    fragments = """query { viewer { ...Repos ... on User { repositories(first: 4) { edges {
      node { name } } } } other: repositories(first: 2) { edges { node { name } } } } }
      fragment Repos on User { repositories(first: 4) { edges { node { issues(first: 3) {
      totalCount } } } } }"""
    # The two `repositories(first: 4)` are one field (execution merges them); the alias is not.
    assert github_cost(fragments).nodes == 4 + 4 * 3 + 2
    two = "query A { viewer { login } } query B { viewer { followers(first: 9) { nodes { login } } } }"
    assert query_cost(GITHUB, parse(two), None, "A", default_size=20, max_size=100).nodes == 0
    assert query_cost(GITHUB, parse(two), None, "B", default_size=20, max_size=100).nodes == 9


def test_every_paginated_field_of_the_schema_is_counted() -> None:
    """A field taking `first` but not returning a ...Connection would escape the cost limit."""
    paginated = {
        f"{type_.name}.{name}": field
        for type_ in schema._schema.type_map.values()
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
        for name, field in type_.fields.items()
        if "first" in field.args
    }
    assert "Query.matches" in paginated and len(paginated) >= 7
    for name, field in paginated.items():
        assert is_connection(field), name


def test_depth_and_alias_rules_refuse_what_exceeds_them() -> None:
    deep = "{ viewer " + "{ repositories { edges { node { owner " * 3 + "{ login }" + " } } } }" * 3
    deep += " }"
    errors = validate(GITHUB, parse(deep), _LIMIT_RULES)
    assert errors and f"exceeds maximum operation depth of {MAX_DEPTH}" in errors[0].message
    fine = "{ viewer { repositories { edges { node { owner { login } } } } } }"
    assert validate(GITHUB, parse(fine), _LIMIT_RULES) == []


def nested_fragments(n: int) -> str:
    """n fragments, each spreading the one before twice: 2^(n-1) fields once expanded."""
    fragments = ["fragment F0 on Query { __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, n)
    ]
    return f"query Bomb {{ ...F{n - 1} }}\n" + "\n".join(fragments)


def test_fragments_count_expanded_but_are_visited_once() -> None:
    """Factoring a query into fragments hides neither depth nor aliases; a fragment spread
    many times is still analysed once (the 2^40 expansion below would never finish)."""
    deep = (
        "fragment Owner on Repository { owner { repositories { edges { node { name } } } } }\n"
        "{ viewer { repositories { edges { node { ...Owner owner { repositories { edges "
        "{ node { ...Owner } } } } } } } } }"
    )
    assert (
        "exceeds maximum operation depth" in validate(GITHUB, parse(deep), _LIMIT_RULES)[0].message
    )
    aliases = (
        "fragment A on User { a: login b: login c: login }\n{ viewer { "
        + " ".join(f"v{i}: viewer {{ ...A }}" for i in range(8))
        + " } }"
    )
    (error,) = validate(GITHUB, parse(aliases), _LIMIT_RULES)
    assert error.message == "32 aliases found. Allowed: 30"
    (bomb,) = validate(schema._schema, parse(nested_fragments(41)), _LIMIT_RULES)
    assert bomb.extensions == {"code": "QUERY_TOO_LARGE"}
    assert f"expands to {2**40} fields" in bomb.message


async def test_fragment_bombs_and_huge_comments_are_refused_by_the_analysis(gql) -> None:
    bomb = await gql.raw(nested_fragments(30))
    assert bomb.data is None
    assert [e.extensions["code"] for e in bomb.errors] == ["QUERY_TOO_LARGE"]
    assert f"expands to {2**29} fields" in bomb.errors[0].message
    comment = await gql.raw("{ __typename }\n#" + "x" * 5_000_000)
    assert comment.data is None
    assert [e.extensions["code"] for e in comment.errors] == ["QUERY_TOO_LARGE"]
    assert "5000016 characters" in comment.errors[0].message
    fine = await gql.raw(nested_fragments(8))  # 128 fields: within every limit
    assert fine.errors is None or fine.errors == []


def with_settings(gql: Gql, **overrides: Any) -> Gql:
    """The same database and resources, other settings."""
    database_url = gql.resources.settings.database_url
    assert database_url is not None
    settings = make_settings(database_url, **overrides)
    return Gql(dataclasses.replace(gql.resources, settings=settings))


def aliased(count: int, first: int) -> str:
    fields = " ".join(f"m{i}: matches(first: {first}) {{ __typename }}" for i in range(count))
    return f"{{ {fields} }}"


async def test_a_document_over_the_node_limit_is_refused_before_it_runs(gql) -> None:
    token = await gql.register()
    tight = with_settings(gql, max_query_nodes=250)
    refused = await tight.raw(aliased(3, 100), token=token)
    assert refused.data is None and len(refused.errors) == 1
    error = refused.errors[0]
    assert error.extensions == {
        "code": "QUERY_TOO_COSTLY",
        "cost": {"nodes": 300, "maxNodes": 250, "points": 1},
    }
    assert "300 nodes" in error.message and "250" in error.message
    allowed = await tight.raw(aliased(2, 100), token=token)
    assert allowed.errors is None and allowed.extensions == {
        "cost": {"nodes": 200, "maxNodes": 250, "points": 1}
    }
    # Omitted `first`: the default page size; variables count as sent.
    tighter = with_settings(gql, max_query_nodes=110)
    paged = "query($n: Int) { a: matches { __typename } b: matches(first: $n) { __typename } }"
    counted = await tighter.raw(paged, {"n": 91}, token=token)
    assert counted.errors[0].extensions["cost"]["nodes"] == 20 + 91
    assert (await tighter.raw(paged, {"n": 90}, token=token)).extensions["cost"]["nodes"] == 110
    # Without connections there is nothing to report.
    assert (await tight.raw("{ me { __typename } }", token=token)).extensions == {}


async def test_the_default_limit_leaves_room_for_a_full_screen(gql) -> None:
    token = await gql.register()
    max_nodes = gql.resources.settings.max_query_nodes
    full = max_nodes // 100
    assert (await gql.raw(aliased(full, 100), token=token)).errors is None
    over = await gql.raw(aliased(full + 1, 100), token=token)
    assert over.errors[0].extensions["code"] == "QUERY_TOO_COSTLY"


async def test_the_cost_travels_in_the_http_response(client) -> None:
    response = await client.post("/graphql", json={"query": aliased(11, 100)})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    ok = await client.post("/graphql", json={"query": "{ interests(first: 5) { __typename } }"})
    assert ok.json()["extensions"] == {"cost": {"nodes": 5, "maxNodes": 1000, "points": 1}}


@pytest.mark.parametrize(
    ("field", "arguments"),
    [
        ("interests", ""),
        ("recommendations", ""),
        ("matches", ""),
        ("interestRequests", ""),
        ("conversations", ""),
        ("messages", 'conversationId: "1"'),
        ("notifications", ""),
    ],
)
async def test_a_page_larger_than_the_maximum_is_a_typed_error(gql, field, arguments) -> None:
    token = await gql.register()
    max_size = gql.resources.settings.max_page_size
    query = (
        f"query($n: Int) {{ {field}({arguments} first: $n) {{ __typename "
        "... on ValidationError { errors { field code } } } }"
    )
    for size in (max_size + 1, 0, -1):
        data = await gql(query, {"n": size}, token=token)
        assert data[field] == {
            "__typename": "ValidationError",
            "errors": [{"field": "first", "code": "OUT_OF_RANGE"}],
        }, (field, size)
    assert (await gql(query, {"n": max_size}, token=token))[field]["__typename"] != (
        "ValidationError"
    )


async def test_batches_are_refused_with_a_400(client) -> None:
    assert schema.config.batching_config is None
    response = await client.post(
        "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    )
    assert response.status_code == 400
    assert "Batching is not enabled" in response.text


TYPO = "{ mee { __typename } }"
BAD_ENUM = "query($o: InterestOrder!) { interests(orderBy: $o) { __typename } }"
BAD_INPUT = "mutation($i: RegisterInput!) { register(input: $i) { __typename } }"


def messages(result: Any) -> list[str]:
    return [error.message for error in result.errors]


async def test_suggestions_are_shown_in_development_and_hidden_in_production(gql) -> None:
    cases = [
        (TYPO, None, "Did you mean 'me'?"),
        (BAD_ENUM, {"o": "POPULR"}, "Did you mean the enum value 'POPULAR'?"),
        (BAD_INPUT, {"i": {"emial": "a@b.c", "password": "x" * 12}}, "Did you mean 'email'?"),
    ]
    production = with_settings(gql, env="production")
    for query, variables, hint in cases:
        shown = messages(await with_settings(gql, env="development").raw(query, variables))
        assert any(hint in m for m in shown), shown
        assert any(hint in m for m in messages(await gql.raw(query, variables)))  # test
        hidden = messages(await production.raw(query, variables))
        assert hidden and not any("Did you mean" in m for m in hidden), hidden
    # The same document again in development: its cached validation kept its hints.
    assert messages(await gql.raw(TYPO))[0].endswith("Did you mean 'me'?")


INTROSPECT = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Query") { name } }'


@pytest.mark.parametrize(
    ("env", "introspection", "allowed"),
    [
        ("development", None, True),
        ("test", None, True),
        ("production", None, False),
        ("production", True, True),
        ("development", False, False),
    ],
)
async def test_introspection_follows_the_setting(gql, env, introspection, allowed) -> None:
    switched = with_settings(gql, env=env, introspection=introspection)
    for query in (INTROSPECT, TYPE):
        result = await switched.raw(query)
        if allowed:
            assert result.errors is None and result.data
        else:
            assert result.data is None and len(result.errors) == 1
            assert result.errors[0].extensions == {"code": "INTROSPECTION_DISABLED"}
    assert (await switched.raw("{ __typename }")).data == {"__typename": "Query"}


@contextlib.asynccontextmanager
async def app_client(database_url: str, encoder: Any, **overrides: Any) -> AsyncIterator[Any]:
    from app import create_app

    app = create_app(make_settings(database_url, **overrides), encoder)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as http:
            yield http


async def test_production_over_http_no_introspection_no_hints_no_graphiql(
    database_url, encoder, caplog
) -> None:
    with caplog.at_level(logging.WARNING, logger="rapport.app"):
        async with app_client(database_url, encoder, env="production") as http:
            page = await http.get("/graphql", headers={"accept": "text/html"})
            refused = (await http.post("/graphql", json={"query": INTROSPECT})).json()
            typo = (await http.post("/graphql", json={"query": TYPO})).json()
    assert "<html" not in page.text.lower()
    assert any("GraphiQL is off: it needs introspection" in r.message for r in caplog.records)
    assert refused["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert typo["errors"][0]["message"] == "Cannot query field 'mee' on type 'Query'."
    async with app_client(
        database_url, encoder, env="production", introspection=True, graphiql=True
    ) as http:
        assert "errors" not in (await http.post("/graphql", json={"query": INTROSPECT})).json()


async def test_limits_keep_the_caches_working(gql) -> None:
    """Each settings combination is its own rule set, built once: repeated documents are not
    parsed, validated or planned again, in production too, whatever their variables."""
    production = with_settings(gql, env="production", max_query_nodes=500)
    query = "query($n: Int) { interests(first: $n) { __typename } }"
    await production.raw(query, {"n": 1})
    misses, hits, entries = DOCUMENTS.misses, DOCUMENTS.hits, len(DOCUMENTS)
    for n in (2, 3, 4):
        result = await production.raw(query, {"n": n})
        assert result.extensions["cost"]["nodes"] == n
    assert DOCUMENTS.misses == misses and DOCUMENTS.hits == hits + 3
    assert len(DOCUMENTS) == entries
