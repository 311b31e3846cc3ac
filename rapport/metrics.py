"""Prometheus metrics (README: "Metrics and traces"): every metric Rapport exports, defined once
here, with bounded label values, and the `/metrics` page.

Label values never come from unbounded input. Operation names are the parsed document's own
(only once it validated), at most MAX_OPERATION_NAMES of them per process, then `<other>`;
`<anonymous>` for an unnamed operation, `<invalid>` for a document that did not parse or
validate. Results are schema type names, limits are the `Limit` enum, pools are fixed names.

Several worker processes: prometheus_client's multiprocess mode. `PROMETHEUS_MULTIPROC_DIR`
must name an empty directory before any worker imports prometheus_client; `rapport serve`
prepares it (`prepare_multiprocess`). Each process then writes its values to memory-mapped
files there and a scrape of any worker adds up every worker's. Gauges use the `livesum` mode
(the sum over live processes): a worker removes its own gauge files when it stops, and a
scrape removes those of processes that no longer exist (a crashed worker), since uvicorn's
supervisor tells nobody when a worker dies. Counters and histograms of dead workers stay, as
counters must (they may never go down).
"""

from __future__ import annotations

import atexit
import glob
import hmac
import ipaddress
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from rapport.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MAX_OPERATION_NAMES = 100  # distinct operation names one process labels; then "<other>"
ANONYMOUS = "<anonymous>"
INVALID = "<invalid>"
OTHER = "<other>"
LIVE: Final = "livesum"  # gauge mode in multiprocess mode (see the module's docstring)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

OPERATIONS = Counter(
    "rapport_graphql_operations",
    "GraphQL operations by operation name, type and result: 'error' when the response has "
    "errors, else the __typename of the first root field of a union type, else 'ok'. "
    "Subscriptions are counted when they end, with the result of their first event.",
    ("operation", "type", "result"),
)
OPERATION_SECONDS = Histogram(
    "rapport_graphql_operation_seconds",
    "Time from receiving a query or mutation to its result, in seconds.",
    ("operation", "type"),
    buckets=LATENCY_BUCKETS,
)
PASSWORD_CHECKS = Counter(
    "rapport_password_checks",
    "Passwords (and sign-up codes) checked with argon2, once the rate limits let the guess "
    "through: logins, registration confirmations, current passwords.",
)
SUBSCRIPTIONS_LIVE = Gauge(
    "rapport_graphql_subscriptions_live",
    "GraphQL subscriptions running, by root field.",
    ("field",),
    multiprocess_mode=LIVE,
)
WEBSOCKETS = Gauge(
    "rapport_websocket_connections",
    "Open graphql-transport-ws connections.",
    multiprocess_mode=LIVE,
)
PUBSUB_DELIVERY_SECONDS = Histogram(
    "rapport_pubsub_delivery_seconds",
    "From publishing a pub/sub message (in any process) to this process receiving it for its "
    "subscribers, in seconds (wall clocks: across machines it includes their skew).",
    buckets=LATENCY_BUCKETS,
)
PUBSUB_RECONNECTS = Counter(
    "rapport_pubsub_reconnects", "Reconnections of the pub/sub reader to Redis."
)
PUBSUB_PUBLISH_FAILURES = Counter(
    "rapport_pubsub_publish_failures", "Pub/sub messages that could not be published."
)
PUBSUB_OVERFLOWS = Counter(
    "rapport_pubsub_overflows",
    "Times a subscriber fell a full queue behind and was told to re-read (GAP).",
)
RATE_LIMIT_REFUSALS = Counter(
    "rapport_rate_limit_refusals", "Actions refused by a rate limit, by limit.", ("limit",)
)
PASSWORD_HASHES = Gauge(
    "rapport_password_hashes",
    "Password hashes and verifications (argon2) running or waiting for a hashing thread.",
    multiprocess_mode=LIVE,
)
SLOW_CLIENTS = Counter(
    "rapport_slow_clients",
    "Connections closed for being slow or idle, by reason: 'header_timeout', 'body_timeout', "
    "'uninitialised_websockets' (one address's websockets that sent no connection_init).",
    ("reason",),
)
DB_CONNECTIONS_IN_USE = Gauge(
    "rapport_db_connections_in_use",
    "Database connections checked out of a pool (sampled every second). Pools: 'orm' "
    "(SQLAlchemy), 'auth' (the asyncpg pool of authentication).",
    ("pool",),
    multiprocess_mode=LIVE,
)
DB_CONNECTIONS_OPEN = Gauge(
    "rapport_db_connections_open",
    "Database connections open in a pool, in use or idle (sampled every second).",
    ("pool",),
    multiprocess_mode=LIVE,
)
ENCODER_BATCH_TEXTS = Histogram(
    "rapport_encoder_batch_texts",
    "Texts in each batch the sentence encoder ran.",
    buckets=BATCH_BUCKETS,
)

POOL_SAMPLE_INTERVAL_S = 1.0


# --- operations ---------------------------------------------------------------------------------


class OperationNames:
    """The label of an operation's name: its own for the first `limit` distinct names seen,
    then OTHER, so that clients inventing names cannot grow the metrics without bound."""

    _NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def label(self, name: str | None) -> str:
        if name is None:
            return ANONYMOUS
        if name in self._known:
            return name
        if len(self._known) >= self.limit or not self._NAME.match(name):
            return OTHER
        self._known.add(name)
        return name


_NAMES = OperationNames()
# Children of labelled metrics, kept so the hot path skips prometheus_client's label checks.
_counted: dict[tuple[str, str, str], Any] = {}
_timed: dict[tuple[str, str], Any] = {}


def operation_label(name: str | None, valid: bool) -> str:
    return _NAMES.label(name) if valid else INVALID


def record_operation(operation: str, kind: str, result: str, seconds: float | None) -> None:
    """Count one operation; `seconds` (None for subscriptions) goes to the latency histogram."""
    key = (operation, kind, result)
    counter = _counted.get(key)
    if counter is None:
        counter = _counted[key] = OPERATIONS.labels(operation, kind, result)
    counter.inc()
    if seconds is not None:
        timed = _timed.get(key[:2])
        if timed is None:
            timed = _timed[key[:2]] = OPERATION_SECONDS.labels(operation, kind)
        timed.observe(seconds)


# --- pub/sub: the publish time carried by each message ------------------------------------------

SENT_KEY = "_sent"
_SENT_PREFIX = '{"' + SENT_KEY + '":'


def sent_at(raw: str) -> float | None:
    """The publish time a message starts with (`{"_sent":1712.5,...}`), read without decoding
    the rest; None for a message without one."""
    if not raw.startswith(_SENT_PREFIX):
        return None
    start = len(_SENT_PREFIX)
    end = raw.find(",", start)
    if end < 0:
        end = raw.find("}", start)
    try:
        return float(raw[start:end])
    except ValueError:
        return None


def observe_delivery(raw: str) -> None:
    sent = sent_at(raw)
    if sent is not None:
        PUBSUB_DELIVERY_SECONDS.observe(max(0.0, time.time() - sent))


# --- database pools -----------------------------------------------------------------------------


def sample_pools(pools: Iterable[tuple[str, Callable[[], tuple[int, int]]]]) -> None:
    """Set the pool gauges from (name, () -> (in use, open)) pairs."""
    for name, read in pools:
        in_use, opened = read()
        DB_CONNECTIONS_IN_USE.labels(name).set(in_use)
        DB_CONNECTIONS_OPEN.labels(name).set(opened)


# --- multiprocess mode --------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess(directory: str | os.PathLike[str]) -> Path:
    """For a server of several worker processes, before any is started: make `directory`
    (created if missing) empty of metric files and name it in PROMETHEUS_MULTIPROC_DIR, which
    the workers inherit. Files left by an earlier run would add its counts to this one's."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def prepare_for_workers(workers: int) -> Path | None:
    """What `rapport serve` calls before starting uvicorn: with PROMETHEUS_MULTIPROC_DIR set,
    empty that directory; else, for more than one worker, make a temporary one (removed when
    this process exits). None: one process, plain prometheus_client."""
    directory = multiprocess_dir()
    if directory is None and workers <= 1:
        return None
    if directory is None:
        directory = tempfile.mkdtemp(prefix="rapport-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return prepare_multiprocess(directory)


def forget_process(pid: int | None = None) -> None:
    """Drop a process's live gauges (this one's by default) in multiprocess mode."""
    directory = multiprocess_dir()
    if directory is not None:
        _multiprocess.mark_process_dead(os.getpid() if pid is None else pid, directory)


def _forget_dead_processes(directory: str) -> None:
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid_text = os.path.basename(path)[: -len(".db")].rsplit("_", 1)[-1]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            _multiprocess.mark_process_dead(int(pid_text), directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exposition() -> bytes:
    """The metrics in Prometheus' text format: this process's, or every worker's."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    _forget_dead_processes(directory)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, directory)
    return generate_latest(registry)


# --- access to /metrics -------------------------------------------------------------------------


def allowed(settings: Settings, client: str | None, authorization: str | None) -> bool:
    """A scrape is allowed from RAPPORT_METRICS_ALLOW_FROM's networks, or anywhere with
    `Authorization: Bearer <RAPPORT_METRICS_TOKEN>`."""
    token = settings.metrics_token
    if token is not None and authorization is not None:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.get_secret_value().encode()
        ):
            return True
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack socket
    return any(address in network for network in settings.metrics_networks)


async def metrics_endpoint(request: Request) -> Response:
    from starlette.responses import PlainTextResponse, Response

    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else None
    if not allowed(settings, client, request.headers.get("authorization")):
        if settings.metrics_token is not None:
            return PlainTextResponse(
                "Send 'Authorization: Bearer <RAPPORT_METRICS_TOKEN>'.\n",
                401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return PlainTextResponse(
            "Metrics are not served to this address (see RAPPORT_METRICS_ALLOW_FROM and "
            "RAPPORT_METRICS_TOKEN).\n",
            403,
        )
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
