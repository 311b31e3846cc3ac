"""Bad request bodies get a clear 4xx as JSON with a code, never a 500, a traceback or a raw
exception text; bodies over RAPPORT_MAX_BODY_BYTES are refused before anything is parsed
(issue 12, items 3 and 4)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

JSON = {"Content-Type": "application/json"}

BAD_BODIES = {
    "deep JSON": (
        b'{"query": "{ __typename }", "variables": {"a": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}}",
        "nested too deeply",
    ),
    "invalid UTF-8": (b'{"query": "{ __typename \xff }"}', "not valid UTF-8"),
    "a JSON string": (b'"{ __typename }"', "must be a JSON object"),
    "a number": (b"42", "must be a JSON object"),
    "null": (b"null", "must be a JSON object"),
    "not JSON": (b"{query: oops", "not JSON"),
    "a 5,000-digit integer": (
        b'{"query": "query($n: Int) { __typename }", "variables": {"n": ' + b"9" * 5000 + b"}}",
        "number too large",
    ),
    "a batch": (b'[{"query": "{ __typename }"}]', "Batching is not enabled"),
}


@pytest.mark.parametrize("name", BAD_BODIES)
async def test_bad_bodies_are_a_json_400_with_a_code(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    body, says = BAD_BODIES[name]
    with caplog.at_level(logging.WARNING):
        response = await client.post("/graphql", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert says in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_an_unknown_fragment_is_a_validation_error_not_a_raw_exception(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/graphql", json={"query": "{ ...Nope }"})
    (error,) = response.json()["errors"]
    assert error["message"] == "Unknown fragment 'Nope'."  # was the KeyError's text: "'Nope'"


async def test_bodies_over_the_limit_are_refused_before_parsing(
    client: httpx.AsyncClient,
) -> None:
    limit = 1_048_576  # the default RAPPORT_MAX_BODY_BYTES
    padding = " " * (limit + 1)
    declared = await client.post("/graphql", content=f'{{"query": "{{ __typename }}"}}{padding}')
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks():  # no Content-Length: counted as it streams in
        for _ in range(3):
            yield b" " * (limit // 2)

    streamed = await client.post("/graphql", content=chunks(), headers=JSON)
    assert streamed.status_code == 413
    # just under the limit is read and answered as usual
    body = json.dumps({"query": "{ __typename }"}).encode()
    fits = await client.post("/graphql", content=body + b" " * (limit - len(body)), headers=JSON)
    assert fits.status_code == 200 and fits.json() == {"data": {"__typename": "Query"}}


async def test_other_transport_errors_are_json_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", content=b"query", headers={"Content-Type": "text/x"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    wrong = await client.put("/graphql", json={"query": "{ __typename }"})
    assert wrong.status_code == 405
