"""GET /metrics after real operations (one process, and two sharing a multiprocess directory),
who may read it, traceparent in the access log, and OpenTelemetry spans per operation."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from rapport import metrics
from rapport.tracing import parse_traceparent
from tests.support.live_chat import ADDED, matched, next_data, send, subscribe
from tests.support.servers import running_server
from tests.support.settings import make_settings

LOOPBACK = ("127.0.0.1", 50000)
LOGIN = """mutation Login($i: LoginInput!) { login(input: $i) { __typename } }"""
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def value(text: str, sample: str, **labels: str) -> float:
    """One sample of a scrape (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def scrape(http: TestClient) -> str:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def post(http: TestClient, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
    return http.post("/graphql", json={"query": query, "variables": variables or {}}, **kw)


def bad_login(http: TestClient) -> Any:
    return post(http, LOGIN, {"i": {"email": "nobody@example.com", "password": "not the password"}})


@pytest.fixture
def app_settings(database_url):
    return make_settings(database_url)


@pytest.fixture
def http(app_settings, encoder_model) -> Iterator[TestClient]:
    from app import create_app
    from matching.batching import BatchingEncoder

    app = create_app(app_settings, BatchingEncoder(encoder_model))
    with TestClient(app, client=LOOPBACK) as client:
        yield client


def test_operations_are_counted_by_name_type_and_result(http) -> None:
    before = scrape(http)
    assert bad_login(http).json()["data"]["login"]["__typename"] == "InvalidCredentials"
    assert post(http, "{ me { __typename } }").json()["data"]["me"] == {
        "__typename": "AuthenticationRequired"
    }
    assert post(http, "query Typo { nope }").json()["errors"]  # fails validation
    assert post(http, "{").json()["errors"]  # does not parse
    after = scrape(http)

    def delta(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    total = "rapport_graphql_operations_total"
    assert delta(total, operation="Login", type="mutation", result="InvalidCredentials") == 1
    assert delta(total, operation="<anonymous>", type="query", result="AuthenticationRequired") == 1
    # A document that did not validate never lends its name to a label.
    assert delta(total, operation="<invalid>", type="query", result="error") == 1
    assert delta(total, operation="Typo") == 0
    assert delta(total, operation="<invalid>", type="unknown", result="error") == 1
    seconds = "rapport_graphql_operation_seconds"
    assert delta(f"{seconds}_count", operation="Login", type="mutation") == 1
    assert delta(f"{seconds}_sum", operation="Login", type="mutation") > 0
    assert delta(f"{seconds}_bucket", operation="Login", type="mutation", le="+Inf") == 1


def test_operation_names_are_capped() -> None:
    names = metrics.OperationNames(limit=2)
    assert [names.label(n) for n in ("A", "B", "A", "C", None)] == [
        "A",
        "B",
        "A",
        "<other>",
        "<anonymous>",
    ]
    fresh = metrics.OperationNames(limit=5)
    assert fresh.label("x" * 65) == "<other>"  # longer than a sane name: not kept
    assert fresh.label("not a name") == "<other>"
    assert fresh.label("ok_Name1") == "ok_Name1"


def gauges(text: str) -> tuple[float, float]:
    return (
        value(text, "rapport_websocket_connections"),
        value(text, "rapport_graphql_subscriptions_live", field="messageAdded"),
    )


def eventually(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_websockets_subscriptions_and_pubsub_delivery(http) -> None:
    a, b, conversation = matched(http)
    before = scrape(http)
    sockets, live = gauges(before)
    with a.socket() as ws:
        sid = subscribe(ws, ADDED, {"c": conversation})
        eventually(lambda: gauges(scrape(http)) == (sockets + 1, live + 1))
        send(b, conversation, "hello")
        assert next_data(ws, sid)["__typename"] == "Message"
        during = scrape(http)
        delivered = "rapport_pubsub_delivery_seconds_count"
        assert value(during, delivered) > value(before, delivered)
    eventually(lambda: gauges(scrape(http)) == (sockets, live))
    after = scrape(http)
    total = "rapport_graphql_operations_total"
    counted = {"operation": "<anonymous>", "type": "subscription", "result": "Message"}
    assert value(after, total, **counted) - value(before, total, **counted) == 1


def test_rate_limit_refusals_are_counted(database_url, encoder_model) -> None:
    from app import create_app
    from matching.batching import BatchingEncoder

    settings = make_settings(database_url, rate_limits={"login_per_address": "1/minute"})
    with TestClient(create_app(settings, BatchingEncoder(encoder_model)), client=LOOPBACK) as http:
        before = scrape(http)
        bad_login(http)
        assert bad_login(http).json()["data"]["login"]["__typename"] == "RateLimited"
        after = scrape(http)
    refusals = "rapport_rate_limit_refusals_total"
    assert (
        value(after, refusals, limit="login_per_address")
        - value(before, refusals, limit="login_per_address")
        == 1
    )
    total = "rapport_graphql_operations_total"
    labels = {"operation": "Login", "result": "RateLimited"}
    assert value(after, total, **labels) - value(before, total, **labels) == 1


async def test_database_pools_in_use_are_sampled(resources) -> None:
    from app import pool_readers

    async with resources.engine.connect(), resources.raw_pool.acquire():
        metrics.sample_pools(pool_readers(resources))
        held = metrics.exposition().decode()
    metrics.sample_pools(pool_readers(resources))
    released = metrics.exposition().decode()
    for pool in ("orm", "auth"):
        assert value(held, "rapport_db_connections_in_use", pool=pool) == 1
        assert value(held, "rapport_db_connections_open", pool=pool) >= 1
        assert value(released, "rapport_db_connections_in_use", pool=pool) == 0


class _Encoder:
    name = "fake"
    dim = 3

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: Any, batch_size: int = 32) -> np.ndarray:
        return np.ones((len(texts), self.dim), dtype=np.float32)


async def test_encoder_batch_sizes_are_observed() -> None:
    from matching.batching import BatchingEncoder

    before = metrics.exposition().decode()
    async with BatchingEncoder(_Encoder(), max_wait=0.05) as encoder:
        await asyncio.gather(*(encoder.encode([f"t{i}", "u"]) for i in range(3)))
    after = metrics.exposition().decode()
    name = "rapport_encoder_batch_texts"
    assert value(after, f"{name}_sum") - value(before, f"{name}_sum") == 6
    assert value(after, f"{name}_count") - value(before, f"{name}_count") >= 1


# --- who may read /metrics ------------------------------------------------------------------


def test_who_may_read_metrics(database_url) -> None:
    local = make_settings(database_url)
    assert metrics.allowed(local, "127.0.0.1", None)
    assert metrics.allowed(local, "::1", None)
    assert metrics.allowed(local, "::ffff:127.0.0.1", None)
    assert not metrics.allowed(local, "10.1.2.3", None)
    assert not metrics.allowed(local, "testclient", None)
    production = make_settings(database_url, env="production")
    assert not metrics.allowed(production, "127.0.0.1", None)  # nobody, until configured
    token = secrets.token_urlsafe(24)
    with_token = make_settings(database_url, env="production", metrics_token=token)
    assert metrics.allowed(with_token, "10.1.2.3", f"Bearer {token}")
    assert not metrics.allowed(with_token, "10.1.2.3", "Bearer wrong")
    assert not metrics.allowed(with_token, "10.1.2.3", f"Basic {token}")
    networks = make_settings(database_url, metrics_allow_from="10.0.0.0/8, 192.168.1.7")
    assert metrics.allowed(networks, "10.1.2.3", None)
    assert metrics.allowed(networks, "192.168.1.7", None)
    assert not metrics.allowed(networks, "127.0.0.1", None)


def test_bad_metrics_settings_are_refused(database_url) -> None:
    with pytest.raises(ValueError, match="RAPPORT_METRICS_ALLOW_FROM: 'ten' is not an address"):
        make_settings(database_url, metrics_allow_from="10.0.0.0/8,ten")
    with pytest.raises(ValueError, match="RAPPORT_METRICS_TOKEN must be at least 16"):
        make_settings(database_url, metrics_token="short")


def test_metrics_route_answers_401_403_or_404(database_url, encoder_model) -> None:
    from app import create_app
    from matching.batching import BatchingEncoder

    token = secrets.token_urlsafe(24)
    settings = make_settings(database_url, env="production", metrics_token=token)
    app = create_app(settings, BatchingEncoder(encoder_model))
    with TestClient(app, client=("10.1.2.3", 50000)) as http:
        refused = http.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert http.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        allowed = http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200 and "rapport_graphql_operations" in allowed.text
    no_token = make_settings(database_url, env="production")
    with TestClient(create_app(no_token, BatchingEncoder(encoder_model)), client=LOOPBACK) as http:
        assert http.get("/metrics").status_code == 403
    off = make_settings(database_url, metrics=False)
    with TestClient(create_app(off, BatchingEncoder(encoder_model)), client=LOOPBACK) as http:
        assert http.get("/metrics").status_code == 404


# --- traceparent and OpenTelemetry ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (TRACEPARENT, True),
        (f"00-{TRACE_ID}-{PARENT_ID}-00", True),
        (f" 00-{TRACE_ID}-{PARENT_ID}-01 ", True),  # optional whitespace around
        (f"01-{TRACE_ID}-{PARENT_ID}-01-future-stuff", True),  # a later version may say more
        (f"00-{TRACE_ID}-{PARENT_ID}-01-extra", False),  # version 00 is exactly 55 characters
        (f"ff-{TRACE_ID}-{PARENT_ID}-01", False),
        (f"00-{'0' * 32}-{PARENT_ID}-01", False),
        (f"00-{TRACE_ID}-{'0' * 16}-01", False),
        (f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", False),  # lowercase only
        (f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01", False),
        (f"00-{TRACE_ID}-{PARENT_ID}-1", False),
        (f"00_{TRACE_ID}_{PARENT_ID}_01", False),
        ("", False),
        (None, False),
    ],
)
def test_traceparent_is_parsed_as_w3c_says(header, valid) -> None:
    parsed = parse_traceparent(header)
    assert (parsed is not None) == valid
    if parsed is not None:
        assert parsed.trace_id == TRACE_ID and parsed.parent_id == PARENT_ID


def test_access_log_carries_the_callers_trace_id(database_url, encoder_model, caplog) -> None:
    from app import create_app
    from matching.batching import BatchingEncoder

    settings = make_settings(database_url, log_requests=True)
    app = create_app(settings, BatchingEncoder(encoder_model))
    with TestClient(app) as http, caplog.at_level(logging.INFO, logger="rapport.access"):
        post(http, "{ me { __typename } }", headers={"traceparent": TRACEPARENT})
        post(http, "{ me { __typename } }", headers={"traceparent": "00-junk"})
    lines = [r for r in caplog.records if r.name == "rapport.access"]
    assert len(lines) == 2
    assert lines[0].trace_id == TRACE_ID and f"trace={TRACE_ID}" in lines[0].getMessage()
    assert not hasattr(lines[1], "trace_id") and "trace=" not in lines[1].getMessage()
    assert lines[0].request_id != lines[1].request_id


def test_otel_span_per_operation_continues_the_incoming_trace(
    database_url, encoder_model, caplog
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    from app import create_app
    from matching.batching import BatchingEncoder

    exporter = InMemorySpanExporter()
    settings = make_settings(database_url, otel=True, log_requests=True)
    app = create_app(settings, BatchingEncoder(encoder_model), span_exporter=exporter)
    with TestClient(app) as http, caplog.at_level(logging.INFO, logger="rapport.access"):
        bad_login(http).json()
        post(http, LOGIN, {"i": {}}, headers={"traceparent": TRACEPARENT}).json()
        post(http, "{ me { __typename } }", headers={"traceparent": TRACEPARENT})
    first, second, third = exporter.get_finished_spans()
    # No traceparent: a trace of its own, whose id the access log carries.
    assert first.name == "mutation Login" and first.kind is SpanKind.SERVER
    assert first.parent is None
    assert dict(first.attributes or {}) == {
        "graphql.operation.type": "mutation",
        "graphql.operation.name": "Login",
        "rapport.result": "InvalidCredentials",
    }
    access = [r for r in caplog.records if r.name == "rapport.access"]
    assert access[0].trace_id == format(first.context.trace_id, "032x")
    # With one: the same trace, a child of the caller's span.
    assert second.context.trace_id == int(TRACE_ID, 16)
    assert second.parent is not None and second.parent.span_id == int(PARENT_ID, 16)
    assert second.parent.is_remote
    assert second.status.status_code is StatusCode.ERROR  # variables did not coerce
    assert third.name == "query <anonymous>" and third.context.trace_id == int(TRACE_ID, 16)
    assert access[2].trace_id == TRACE_ID


def test_otel_is_off_by_default(http) -> None:
    assert http.app.state.resources.tracing is None


# --- two processes, one multiprocess directory -------------------------------------------------

PROBE = "query Probe { me { __typename } }"


def test_two_workers_share_their_metrics(database_url, tmp_path, monkeypatch) -> None:
    """Two uvicorn processes on one PROMETHEUS_MULTIPROC_DIR (what `rapport serve --workers 2`
    sets up): a scrape of either counts both; a stopped worker's gauges leave with it, its
    counts stay. Their logs, uvicorn's own lines included, are JSON."""
    from websockets.sync.client import connect

    monkeypatch.setenv(metrics.MULTIPROC_ENV, "restored at teardown")
    directory = metrics.prepare_multiprocess(tmp_path / "metrics")
    token = secrets.token_urlsafe(24)
    env = {
        metrics.MULTIPROC_ENV: str(directory),
        "RAPPORT_LOG_FORMAT": "json",
        "RAPPORT_METRICS_TOKEN": token,
    }
    auth = {"Authorization": f"Bearer {token}"}
    with (
        running_server(database_url, tmp_path / "a.log", **env) as a,
        running_server(database_url, tmp_path / "b.log", **env) as b,
    ):
        for server, times in ((a, 3), (b, 2)):
            for _ in range(times):
                answer = httpx.post(f"{server.base_url}/graphql", json={"query": PROBE})
                assert answer.json()["data"]["me"]["__typename"] == "AuthenticationRequired"
        ws_url = b.base_url.replace("http", "ws") + "/graphql"
        with connect(ws_url, subprotocols=["graphql-transport-ws"]):  # type: ignore[list-item]
            text = httpx.get(f"{a.base_url}/metrics", headers=auth).text
        probes = {"operation": "Probe", "type": "query", "result": "AuthenticationRequired"}
        assert value(text, "rapport_graphql_operations_total", **probes) == 5
        assert value(text, "rapport_graphql_operation_seconds_count", operation="Probe") == 5
        assert value(text, "rapport_websocket_connections") == 1  # open on b, read through a
        assert b.stop() in (0, -15)
        text = httpx.get(f"{a.base_url}/metrics", headers=auth).text
        assert value(text, "rapport_graphql_operations_total", **probes) == 5
        assert value(text, "rapport_websocket_connections") == 0
    for log in (a.log, b.log):
        lines = [line for line in log.splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]  # every line is JSON
        assert any(
            r["logger"] == "uvicorn.error" and r["message"].startswith("Started server process")
            for r in records
        )


def test_serve_prepares_a_metrics_directory_for_several_workers(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    assert metrics.prepare_for_workers(1) is None
    made = metrics.prepare_for_workers(2)
    assert made is not None and made.is_dir() and list(made.iterdir()) == []
    assert metrics.multiprocess_dir() == str(made)
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(given))
    assert metrics.prepare_for_workers(1) == given  # set by the operator: emptied, kept
    assert list(given.iterdir()) == []


def test_serves_log_config_puts_uvicorns_lines_in_json(tmp_path) -> None:
    """`rapport serve` hands uvicorn this configuration: its lines (the supervisor's too,
    which never builds the app) come out as JSON."""
    import subprocess
    import sys

    script = (
        "import logging, logging.config\n"
        "from rapport.logging import uvicorn_log_config\n"
        "from rapport.settings import Settings\n"
        "settings = Settings(_env_file=None, log_format='json')\n"
        "logging.config.dictConfig(uvicorn_log_config(settings))\n"
        "logging.getLogger('uvicorn.error').info('Started parent process [%d]', 42)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    (line,) = done.stderr.splitlines()
    record = json.loads(line)
    assert record["logger"] == "uvicorn.error" and record["level"] == "INFO"
    assert record["message"] == "Started parent process [42]"
