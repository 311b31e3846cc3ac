"""GraphQL over HTTP as its spec says (issue 13 item 2): the npm `graphql-http` audit against a
real server; content negotiation on Accept (406 when nothing fits); request errors as 400s
without data in application/graphql-response+json and 200s in application/json; a code on
every error; transport errors as GraphQL responses in the negotiated type."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from rapport.graphql_http import negotiate, request_error_status
from tests.support.node_clients import CLIENTS
from tests.support.servers import running_server


def run_audit(url: str) -> list[dict[str, object]]:
    """The audit's report; a failure, not a skip, without node or the npm packages."""
    node = shutil.which("node")
    if node is None or not (CLIENTS / "node_modules" / "graphql-http").is_dir():
        pytest.fail("the audit needs node and tests/clients/node_modules: run `make setup`")
    done = subprocess.run(
        [node, str(CLIENTS / "audit.mjs"), url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=CLIENTS,
    )
    assert done.returncode == 0, done.stderr
    report: list[dict[str, object]] = json.loads(done.stdout)
    return report


def test_the_graphql_http_audit_passes_every_check(database_url: str, tmp_path: Path) -> None:
    with running_server(database_url, tmp_path / "server.log") as server:
        report = run_audit(f"{server.base_url}/graphql")
    failing = [entry for entry in report if entry["status"] != "ok"]
    summary = "\n".join(
        f"{entry['status']}: {entry['name']} — {entry.get('reason')} "
        f"(HTTP {entry.get('httpStatus')}, {entry.get('contentType')})"
        for entry in failing
    )
    assert not failing, f"{len(failing)} of {len(report)} audits failed:\n{summary}"
    assert len(report) == 61


GRAPHQL_RESPONSE = "application/graphql-response+json"
APOLLO_ACCEPT = "application/graphql-response+json,application/json;q=0.9"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/*", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (APOLLO_ACCEPT, GRAPHQL_RESPONSE),  # Apollo Client's
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE),
        ("application/graphql-response+json;q=0.5, application/json", "application/json"),
        ("application/json;q=0, */*", GRAPHQL_RESPONSE),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "application/json"),  # a browser's
        ("application/graphql-response+json; charset=utf-8", GRAPHQL_RESPONSE),
    ],
)
def test_the_response_media_type_is_negotiated(accept: str | None, media_type: str) -> None:
    assert negotiate(accept) == media_type


@pytest.mark.parametrize(
    "accept", ["text/html", "application/xml", "application/json;q=0", "image/*, text/*"]
)
async def test_nothing_acceptable_is_a_json_406(client: httpx.AsyncClient, accept: str) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": accept}
    )
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_an_executed_result_is_200_in_either_type(client: httpx.AsyncClient) -> None:
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"accept": accept}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == accept
        assert response.json() == {"data": {"__typename": "Query"}}


REQUEST_ERRORS = {
    "parse": ({"query": "{ me { "}, "GRAPHQL_PARSE_FAILED"),
    "tokens": ({"query": "{ " + "__typename " * 2_001 + "}"}, "GRAPHQL_PARSE_FAILED"),
    "validation": ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    "unknown fragment": ({"query": "{ ...Nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    "variable type": (
        {"query": "query($id: ID!) { user(id: $id) { __typename } }", "variables": {"id": None}},
        "BAD_USER_INPUT",
    ),
    "unused variable": (  # the audit's "variable coercion failure"
        {"query": "query($id: ID!) { __typename }", "variables": {"id": None}},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "missing variable": (
        {"query": "query($n: Int!) { interests(first: $n) { __typename } }"},
        "BAD_USER_INPUT",
    ),
    "depth": ({"query": "{ me " + "{ me " * 11 + "}" * 12}, "QUERY_TOO_DEEP"),  # and unknown fields
    "aliases": (
        {"query": "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"},
        "TOO_MANY_ALIASES",
    ),
    "too costly": (
        {
            "query": "{ a: recommendations(first: 100) { __typename } "
            + " ".join(f"b{i}: recommendations(first: 100) {{ __typename }}" for i in range(10))
            + " }"
        },
        "QUERY_TOO_COSTLY",
    ),
    "lone surrogate": (
        {
            "query": "query($s: String) { interests(prefix: $s) { __typename } }",
            "variables": {"s": "\ud800"},
        },
        "INVALID_UNICODE",
    ),
}


@pytest.mark.parametrize("name", REQUEST_ERRORS)
async def test_request_errors_are_400_without_data_in_graphql_response_json(
    client: httpx.AsyncClient, name: str
) -> None:
    body, code = REQUEST_ERRORS[name]
    content = json.dumps(body).encode()  # json.dumps keeps the lone surrogate as \ud800
    modern = await client.post(
        "/graphql",
        content=content,
        headers={"accept": APOLLO_ACCEPT, "content-type": "application/json"},
    )
    assert modern.status_code == 400, modern.text
    assert modern.headers["content-type"] == GRAPHQL_RESPONSE
    answer = modern.json()
    assert "data" not in answer
    codes = {error["extensions"].get("code") for error in answer["errors"]}
    assert code in codes and None not in codes
    legacy = await client.post(
        "/graphql",
        content=content,
        headers={"accept": "application/json", "content-type": "application/json"},
    )
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"
    assert legacy.json() == {"data": None, **answer}


async def test_an_execution_error_nulling_the_data_stays_200(client: httpx.AsyncClient) -> None:
    assert (
        request_error_status({"data": None, "errors": [{"message": "x", "path": ["me"]}]}) is None
    )
    assert request_error_status({"data": {"me": None}, "errors": [{"message": "x"}]}) is None
    masked = {
        "errors": [
            {"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        ]
    }
    assert request_error_status({"data": None, **masked}) == 500


# name: (method, what httpx sends, status, code, Allow header)
TRANSPORT_ERRORS: dict[str, tuple[str, dict[str, Any], int, str, str | None]] = {
    "PUT": ("PUT", {"json": {"query": "{ __typename }"}}, 405, "METHOD_NOT_ALLOWED", "GET, POST"),
    "DELETE": ("DELETE", {}, 405, "METHOD_NOT_ALLOWED", "GET, POST"),
    "mutation over GET": (
        "GET",
        {"params": {"query": "mutation { logout { __typename } }"}},
        405,
        "METHOD_NOT_ALLOWED",
        "POST",
    ),
    "no query": ("POST", {"json": {"variables": {}}}, 400, "BAD_REQUEST", None),
    "GET without a query": ("GET", {}, 400, "BAD_REQUEST", None),
    "query not a string": ("POST", {"json": {"query": 1}}, 400, "BAD_REQUEST", None),
    "variables not an object": (
        "POST",
        {"json": {"query": "{ __typename }", "variables": []}},
        400,
        "BAD_REQUEST",
        None,
    ),
    "bad variables in GET": (
        "GET",
        {"params": {"query": "{ __typename }", "variables": "{"}},
        400,
        "BAD_REQUEST",
        None,
    ),
    "unknown operation": (
        "POST",
        {"json": {"query": "query A { __typename }", "operationName": "B"}},
        400,
        "OPERATION_RESOLUTION_FAILURE",
        None,
    ),
    "subscription over POST": (
        "POST",
        {"json": {"query": "subscription { notifications { __typename } }"}},
        400,
        "BAD_REQUEST",
        None,
    ),
    "no content type": (
        "POST",
        {"content": b'{"query": "{ __typename }"}'},
        400,
        "BAD_REQUEST",
        None,
    ),
}


@pytest.mark.parametrize("name", TRANSPORT_ERRORS)
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_transport_errors_are_graphql_responses_with_a_code(
    client: httpx.AsyncClient, name: str, accept: str
) -> None:
    method, kwargs, status, code, allow = TRANSPORT_ERRORS[name]
    response = await client.request(method, "/graphql", headers={"accept": accept}, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == accept
    assert response.headers.get("allow") == allow
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code
    assert "data" not in response.json()
