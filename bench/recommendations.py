"""Recommendations benchmark: latency of `recommendations(first: 20)` with 10,000 and 100,000
seeded people, ranking cache cold and warm, against `{ __typename }` and `me` on the same
server in the same run.

Usage (from the repository root):

    .venv/bin/python bench/recommendations.py                          # 10,000 then 100,000
    .venv/bin/python bench/recommendations.py --sizes 2000,10000 --sample 100
    .venv/bin/python bench/recommendations.py --keep-db /tmp/rapport-bench-db   # reusable

What it does:

1. starts an embedded PostgreSQL (throwaway under /tmp/rapport-recs-<pid>/, or the data
   directory given with --keep-db, kept for the next run) and migrates it;
2. for each size, smallest first, in ONE database: seeds people with `rapport.seed` (through
   the API's resolver functions, profiles embedded by the ONNX encoder as they are created)
   up to that many accounts, skipping people who already exist, then VACUUM ANALYZE (what
   autovacuum would have done by then);
3. starts ONE uvicorn worker (production settings, request logging off; see http_api.py),
   warms it as a server that has been up a while is warm (40 untimed `recommendations`
   requests of other people, so every pooled connection has prepared the statements),
   logs in `--sample` random seeded people (demo password) and, for each in turn, times
   `{ __typename }`, `me`, then `recommendations(first: 20)` twice: the first call finds the
   ranking cache empty for that person (cold: candidate query, scoring, cache fill), the
   second is served from the cache (warm). Requests are sequential over one keep-alive
   connection, so these are latencies, not throughput;
4. in process, times the candidate statement for each sampled person with the Hamming
   shortlist (as the API runs it) and exact (every eligible person's full vector compared),
   and how many of the exact nearest the shortlist finds (recall);
5. prints p50/p95 of each, the ratio to the baseline, and EXPLAIN (ANALYZE, BUFFERS) of the
   candidate query for one sampled person (run in-process, the statement captured as the
   ranking code sends it), then a verdict for the target: p95 <= 50 ms at 100,000 people
   with a cold cache.

Seeding is bound by the encoder (about 250 texts/s per core, two texts per person): 100,000
people take a long while; progress is printed. With --keep-db a second run skips seeding.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from http_api import BenchError, uvicorn_server  # bench/ is this script's folder
from sqlalchemy import event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matching.ranking import RANKING_SIZE  # noqa: E402
from rapport import embedded, migrations  # noqa: E402
from rapport.seed import DEMO_PASSWORD, PersonSpec, existing_emails, generate, seed  # noqa: E402
from rapport.settings import Settings  # noqa: E402

TARGET_P95_MS = 50.0
TARGET_SIZE = 100_000

BASELINE = "{ __typename }"
ME = "{ me { ... on Me { id email profile { displayName } } } }"
RECS = """query { recommendations(first: 20) { __typename
  ... on RecommendationConnection { edges { cursor node { score
      user { id displayName age city interests }
      explanation { summary sharedInterests goalsAlignment scoreForYou scoreForThem } } }
    pageInfo { hasNextPage endCursor } }
  ... on NotAllowed { code message } ... on ValidationError { errors { field code } } } }"""
LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  __typename ... on AuthPayload { token } } }"""


@dataclass
class Timings:
    baseline: list[float]
    me: list[float]
    cold: list[float]
    warm: list[float]
    results: list[int]  # recommendations returned on the first page, per person


@dataclass
class Shortlist:
    """The candidate query with the Hamming shortlist (what the API runs) against the same
    query comparing every eligible person's full vector (exact), for the same people."""

    shortlist_ms: list[float]
    exact_ms: list[float]
    recall: list[float]  # share of the exact nearest RANKING_SIZE found by the shortlist
    eligible: list[int]  # how many people the exact query found, up to RANKING_SIZE


@dataclass
class SizeResult:
    size: int
    people: int
    timings: Timings
    explained: list[Explained]
    shortlist: Shortlist


# --- database and seeding -----------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000", help="people to measure at (10000,100000)")
    p.add_argument("--sample", type=int, default=200, help="people timed per size (200)")
    p.add_argument("--keep-db", type=Path, default=None, help="reusable PostgreSQL data dir")
    p.add_argument("--seed", type=int, default=0, help="which synthetic people (0)")
    p.add_argument("--concurrency", type=int, default=32, help="people seeded at once (32)")
    args = p.parse_args()
    args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    if not args.sizes or min(args.sizes) < 2:
        p.error("--sizes needs positive sizes, e.g. 10000,100000")
    return args


def start_database(keep: Path | None) -> str:
    if keep is not None:
        keep = keep.resolve()
        print(f"PostgreSQL data directory: {keep} (kept)", flush=True)
        url = embedded.start(keep, cleanup_mode="stop")
    else:
        base = Path(f"/tmp/rapport-recs-{os.getpid()}")  # short: the Unix socket lives in it
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        url = embedded.start(base / "pgdata", cleanup_mode="delete")
    migrations.upgrade(url)
    return url


def settings_for(url: str) -> Settings:
    return Settings(
        _env_file=None,
        env="test",
        secret_key=secrets.token_urlsafe(48),
        database_url=url,
        log_requests=False,
        log_level="WARNING",
        db_pool_size=20,
    )


async def counts(settings: Settings) -> dict[str, int]:
    from rapport.db import create_engine

    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return {
                table: int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
                for table in ("users", "profiles", "profile_embeddings")
            }
    finally:
        await engine.dispose()


async def seed_up_to(settings: Settings, size: int, args: argparse.Namespace) -> None:
    from rapport.resources import open_resources

    started = time.perf_counter()
    specs = generate(size, args.seed)
    async with open_resources(settings) as resources:
        have = await existing_emails(resources, specs)
        todo = [s for s in specs if s.email not in have]
        print(
            f"seeding {len(todo):,} people ({len(have):,} already there), "
            f"{args.concurrency} at a time ...",
            flush=True,
        )
        began = time.perf_counter()
        await seed(resources, todo, concurrency=args.concurrency)
    took = time.perf_counter() - began
    print(
        f"seeded {len(todo):,} people in {took:.0f} s ({len(todo) / max(took, 1e-9):.0f}/s; "
        f"{time.perf_counter() - started:.0f} s with set-up)",
        flush=True,
    )


async def vacuum_analyze(settings: Settings) -> None:
    from rapport.db import create_engine

    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


# --- in-process: where a cold ranking spends its time, and the candidate query's plan -----


@dataclass
class Explained:
    label: str
    email: str
    ranked: int
    rank_ms: float
    statements: list[tuple[str, float]]  # (start of the SQL, ms), in order
    plan: str

    def summary(self) -> str:
        sql = sum(ms for _, ms in self.statements)
        parts = ", ".join(f"{ms:.1f} ms {label!r}" for label, ms in self.statements)
        execution = next(
            (ln.strip() for ln in self.plan.splitlines() if ln.startswith("Execution Time")), "?"
        )
        hnsw = "uses" if "hnsw" in self.plan.lower() else "does NOT use"
        return (
            f"{self.label}: {self.email}, {self.ranked} ranked; in-process rank() "
            f"(warm connection) {self.rank_ms:.1f} ms = SQL {sql:.1f} ms in "
            f"{len(self.statements)} statements "
            f"+ {self.rank_ms - sql:.1f} ms Python\n    statements: {parts}\n"
            f"    candidate query: {execution}; its plan {hnsw} the HNSW index"
        )


def _label(statement: str) -> str:
    words = " ".join(statement.split())
    return words[:60]


async def explain_ranking(settings: Settings, email: str, label: str) -> Explained:
    """Rank one person in-process (as the API does on a cold cache), timing every statement,
    then EXPLAIN (ANALYZE, BUFFERS) the candidate statement exactly as it was sent (SQL and
    parameters) in the same transaction, so `SET LOCAL` options of the ranking code apply."""
    from matching.ranking import rank
    from rapport.db import create_engine, create_sessionmaker

    engine = create_engine(settings)
    sent: list[tuple[str, Any, float]] = []
    clock: list[float] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        clock.append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters, (time.perf_counter() - clock.pop()) * 1000))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    try:
        async with create_sessionmaker(engine)() as session:
            user_id = (
                await session.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email})
            ).scalar_one()
            await session.commit()
            today = datetime.now(UTC).date()
            # Once to warm the connection (asyncpg introspects array types on first use,
            # PostgreSQL fills its catalog caches), as a server's pooled connections are.
            await rank(session, user_id, today)
            await session.rollback()
            sent.clear()
            started = time.perf_counter()
            ranking = await rank(session, user_id, today)
            rank_ms = (time.perf_counter() - started) * 1000
            statements = [(_label(st), ms) for st, _, ms in sent]
            candidates = [(st, p) for st, p, _ in sent if "<=>" in st and "LIMIT" in st]
            plan = "(no candidate statement captured)"
            if candidates:
                statement, parameters = max(candidates, key=lambda c: len(c[0]))
                connection = await session.connection()
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                rows = await driver.fetch(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, *(parameters or ())
                )
                plan = "\n".join(r[0] for r in rows)
            await session.rollback()
        return Explained(label, email, len(ranking or []), rank_ms, statements, plan)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        event.remove(engine.sync_engine, "after_cursor_execute", after)
        await engine.dispose()


async def compare_shortlist(settings: Settings, emails: list[str]) -> Shortlist:
    """Time the candidate query in-process both ways for each person (each once before, to
    warm the connection and caches) and measure the shortlist's recall of the exact nearest."""
    from matching.candidates import reciprocal_candidates
    from rapport.db import create_engine, create_sessionmaker

    engine = create_engine(settings)
    result = Shortlist([], [], [], [])
    today = datetime.now(UTC).date()
    try:
        async with create_sessionmaker(engine)() as session:
            ids = (
                await session.execute(
                    text("SELECT id FROM users WHERE email = ANY(:e)"), {"e": emails}
                )
            ).scalars()
            for user_id in list(ids):
                found = {}
                for name, shortlist, times in (
                    ("exact", 0, result.exact_ms),
                    ("shortlist", None, result.shortlist_ms),
                ):
                    await reciprocal_candidates(session, user_id, today, RANKING_SIZE, shortlist)
                    started = time.perf_counter()
                    got = await reciprocal_candidates(
                        session, user_id, today, RANKING_SIZE, shortlist
                    )
                    times.append((time.perf_counter() - started) * 1000)
                    found[name] = {c.user_id for c in got[1]} if got else set()
                    await session.rollback()
                exact = found["exact"]
                result.eligible.append(len(exact))
                result.recall.append(len(found["shortlist"] & exact) / len(exact) if exact else 1)
    finally:
        await engine.dispose()
    return result


# --- latency over HTTP -----------------------------------------------------------------------


def post(
    client: httpx.Client, query: str, token: str | None = None, variables: Any = None
) -> tuple[float, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload: dict[str, Any] = {"query": query}
    if variables:
        payload["variables"] = variables
    started = time.perf_counter()
    response = client.post("/graphql", json=payload, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise BenchError(f"{query[:40]!r}: {response.status_code} {json.dumps(body)[:500]}")
    return elapsed, dict(body["data"])


WARM_UP_PEOPLE = 40  # untimed cold requests first: 4 per connection of the server's pool (10)


def sample_people(size: int, args: argparse.Namespace) -> tuple[list[PersonSpec], list[PersonSpec]]:
    """People to time, and other people whose untimed requests warm the server first."""
    rng = random.Random(f"bench-recommendations:{size}:{args.seed}")
    k = min(args.sample, size)
    chosen = rng.sample(range(size), k=min(k + WARM_UP_PEOPLE, size))
    people = [generate(1, args.seed, start=i)[0] for i in chosen]
    return people[:k], people[k:]


def login(client: httpx.Client, person: PersonSpec) -> str:
    _, data = post(
        client, LOGIN, variables={"i": {"email": person.email, "password": DEMO_PASSWORD}}
    )
    if data["login"]["__typename"] != "AuthPayload":
        raise BenchError(f"login {person.email}: {data}")
    return str(data["login"]["token"])


def measure(base_url: str, people: list[PersonSpec], warm_up: list[PersonSpec]) -> Timings:
    """Times `people`'s requests on a server warmed like one that has been up for a while:
    its parsed-query caches, and every pooled database connection (which prepares each
    statement on first use), by untimed requests of `warm_up` people."""
    timings = Timings([], [], [], [], [])
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for _ in range(20):
            post(client, BASELINE)
        for person in warm_up:
            post(client, RECS, login(client, person))
        tokens = [login(client, person) for person in people]
        for i, token in enumerate(tokens):
            timings.baseline.append(post(client, BASELINE)[0])
            timings.me.append(post(client, ME, token)[0])
            page = []
            for bucket in (timings.cold, timings.warm):
                elapsed, data = post(client, RECS, token)
                result = data["recommendations"]
                if result["__typename"] != "RecommendationConnection":
                    raise BenchError(f"recommendations for {people[i].email}: {result}")
                bucket.append(elapsed)
                page.append([e["node"]["user"]["id"] for e in result["edges"]])
            if page[0] != page[1]:
                raise BenchError(f"warm page differs from cold page for {people[i].email}")
            timings.results.append(len(page[0]))
            if (i + 1) % 50 == 0:
                print(f"  timed {i + 1}/{len(tokens)} people", flush=True)
    return timings


# --- report -----------------------------------------------------------------------------------


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def print_size(r: SizeResult) -> None:
    t = r.timings
    base50, base95 = pct(t.baseline, 50), pct(t.baseline, 95)
    print(
        f"\n{r.size:,} people ({r.people:,} in the database), {len(t.cold)} sampled; "
        f"recommendations per first page: median {statistics.median(t.results):.0f}, "
        f"min {min(t.results)}, {sum(n == 0 for n in t.results)} with none"
    )
    print(
        f"{'query':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'p50 x base':>11} {'p95 x base':>11}"
    )
    for name, values in (
        ("{ __typename } (baseline)", t.baseline),
        ("me", t.me),
        ("recommendations, cold", t.cold),
        ("recommendations, warm", t.warm),
    ):
        p50, p95 = pct(values, 50), pct(values, 95)
        print(
            f"{name:<28} {p50:>8.2f} {p95:>8.2f} {max(values):>8.2f} "
            f"{p50 / base50:>11.1f} {p95 / base95:>11.1f}"
        )
    sl = r.shortlist
    print(
        f"candidate query in-process: Hamming shortlist p50 {pct(sl.shortlist_ms, 50):.1f} / "
        f"p95 {pct(sl.shortlist_ms, 95):.1f} ms, exact (every eligible vector) p50 "
        f"{pct(sl.exact_ms, 50):.1f} / p95 {pct(sl.exact_ms, 95):.1f} ms: "
        f"{pct(sl.shortlist_ms, 50) / pct(sl.exact_ms, 50):.2f}x / "
        f"{pct(sl.shortlist_ms, 95) / pct(sl.exact_ms, 95):.2f}x of exact; recall of the exact "
        f"nearest {statistics.mean(sl.recall):.3f} mean, {min(sl.recall):.3f} min "
        f"({sum(n >= RANKING_SIZE for n in sl.eligible)} of {len(sl.eligible)} people with "
        f"{RANKING_SIZE}+ eligible)"
    )
    for e in r.explained:
        print(e.summary())


def print_header(args: argparse.Namespace) -> None:
    from importlib.metadata import version

    print(
        f"python {platform.python_version()}, strawberry-graphql {version('strawberry-graphql')}, "
        f"uvicorn {version('uvicorn')}, CPUs: {os.cpu_count()}; one uvicorn worker "
        "(RAPPORT_ENV=production, request logging off), sequential requests over one "
        f"connection; sizes {', '.join(f'{s:,}' for s in args.sizes)}; {args.sample} people "
        "sampled per size",
        flush=True,
    )


def verdict(results: list[SizeResult]) -> str:
    at_target = [r for r in results if r.size >= TARGET_SIZE]
    if not at_target:
        largest = max(results, key=lambda r: r.size) if results else None
        measured = (
            f"largest size measured {largest.size:,}: cold p95 "
            f"{pct(largest.timings.cold, 95):.1f} ms"
            if largest
            else "nothing measured"
        )
        return (
            f"Target recommendations p95 <= {TARGET_P95_MS:.0f} ms at {TARGET_SIZE:,} people, "
            f"cold cache: NOT MEASURED ({measured})"
        )
    r = min(at_target, key=lambda r: r.size)
    p95 = pct(r.timings.cold, 95)
    ok = "MET" if p95 <= TARGET_P95_MS else "NOT MET"
    return (
        f"Target recommendations p95 <= {TARGET_P95_MS:.0f} ms at {TARGET_SIZE:,} people, "
        f"cold cache: {ok} (cold p95 {p95:.1f} ms at {r.size:,}; warm p95 "
        f"{pct(r.timings.warm, 95):.1f} ms)"
    )


def run(args: argparse.Namespace) -> None:
    print_header(args)
    url = start_database(args.keep_db)
    settings = settings_for(url)
    results: list[SizeResult] = []
    for size in args.sizes:
        have = asyncio.run(counts(settings))
        print(f"\n== {size:,} people (database has {have['users']:,} accounts)", flush=True)
        if have["users"] > size:
            print(f"skipped: the database already holds more than {size:,} accounts", flush=True)
            continue
        if have["users"] < size:
            asyncio.run(seed_up_to(settings, size, args))
        started = time.perf_counter()
        asyncio.run(vacuum_analyze(settings))
        have = asyncio.run(counts(settings))
        print(
            f"VACUUM ANALYZE {time.perf_counter() - started:.1f} s; profiles {have['profiles']:,}, "
            f"embeddings {have['profile_embeddings']:,}",
            flush=True,
        )
        people, warm_up = sample_people(size, args)
        with (
            tempfile.TemporaryDirectory(prefix="rapport-recs-") as tmp,
            uvicorn_server(url, Path(tmp) / "uvicorn.log", None) as (base_url, pid),
        ):
            print(f"uvicorn pid {pid} at {base_url}; timing {len(people)} people", flush=True)
            timings = measure(base_url, people, warm_up)
        typical = next((p for p in people if p.profile["intent"].value == "dating"), people[0])
        slowest = people[max(range(len(people)), key=lambda i: timings.cold[i])]
        explained = [
            asyncio.run(explain_ranking(settings, typical.email, "a dating person")),
            asyncio.run(explain_ranking(settings, slowest.email, "the slowest cold request")),
        ]
        shortlist = asyncio.run(compare_shortlist(settings, [p.email for p in people]))
        result = SizeResult(size, have["profiles"], timings, explained, shortlist)
        results.append(result)
        print_size(result)
        for e in explained:
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the candidate query at {size:,}, {e.label}:")
            print(e.plan if size == args.sizes[-1] else "(full plan printed at the largest size)")
        sys.stdout.flush()
    print("\n== summary")
    for r in results:
        print_size(r)
    print("\n" + verdict(results))


def main() -> None:
    try:
        run(parse_args())
    except BenchError as exc:
        sys.exit(f"BENCHMARK FAILED: {exc}")
    except KeyboardInterrupt:
        sys.exit("interrupted (with --keep-db, seeded people stay; rerun to continue)")


if __name__ == "__main__":
    main()
