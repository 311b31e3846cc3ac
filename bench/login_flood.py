"""Login flood benchmark: what a spread login flood (many addresses, each under its own rate
limit) does to login latency, with the password-hashing queue unbounded and bounded.

Runs the schema in process against a throwaway embedded PostgreSQL with production argon2
parameters. Logins of unknown emails (each one verifies against the dummy hash, as any login
does) arrive open-loop at `--rate` per second for `--seconds`, faster than the machine can
hash; every one is timed from its arrival to its answer. Two configurations, one after the
other in the same run:

- unbounded: RAPPORT_PASSWORD_HASH_QUEUE=100000 (every login waits its turn, as before the
  bound: the queue, and so the latency, grows for as long as the flood lasts);
- bounded: the default sizing (a queue the hashing threads finish in
  RAPPORT_PASSWORD_HASH_MAX_WAIT_S); past it, logins answer RateLimited at once.

Prints p50/p99 of all answers and of the admitted ones (InvalidCredentials), how many were
refused, the retryAfter they were given, and bounded/unbounded ratios. An `error` answer is
a login that failed outright (the database pool's 30 s wait for a connection ran out).

    .venv/bin/python bench/login_flood.py [--rate 150] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from http_api import in_process_settings, start_database  # noqa: E402

from rapport.resources import open_resources  # noqa: E402
from schema import schema  # noqa: E402
from schema.context import Context  # noqa: E402

LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  __typename ... on RateLimited { retryAfter } } }"""
UNBOUNDED = 100_000


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=150, help="logins arriving per second (150)")
    p.add_argument("--seconds", type=float, default=10, help="how long the flood lasts (10)")
    p.add_argument("--queue", type=int, default=None, help="bounded queue (default: sized)")
    return p.parse_args()


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


async def flood(
    database_url: str, queue: int | None, rate: float, seconds: float
) -> dict[str, Any]:
    settings = in_process_settings(database_url, password_hash_queue=queue)
    answers: list[tuple[str, float, int | None]] = []
    async with open_resources(settings) as resources:
        hashing = resources.credentials.hashing

        async def one() -> None:
            started = time.perf_counter()
            variables = {"i": {"email": f"{uuid.uuid4().hex}@example.com", "password": "guess1234"}}
            result = await schema.execute(
                LOGIN, variable_values=variables, context_value=Context(resources=resources)
            )
            elapsed = time.perf_counter() - started
            if result.errors or not result.data:  # e.g. no database connection within 30 s
                answers.append(("error", elapsed, None))
                return
            login = result.data["login"]
            answers.append((login["__typename"], elapsed, login.get("retryAfter")))

        tasks = []
        begin = time.perf_counter()
        for n in range(int(rate * seconds)):  # open loop: arrivals do not wait for answers
            await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        sizing = (hashing.threads, hashing.waiting, hashing.cost_s)
    return {"answers": answers, "sizing": sizing}


def summary(run: dict[str, Any]) -> dict[str, Any]:
    answers = run["answers"]
    everything = [seconds for _, seconds, _ in answers]
    admitted = [seconds for kind, seconds, _ in answers if kind == "InvalidCredentials"]
    retry = [after for kind, _, after in answers if kind == "RateLimited"]
    return {
        "p50": percentile(everything, 50),
        "p99": percentile(everything, 99),
        "admitted p50": percentile(admitted, 50),
        "admitted p99": percentile(admitted, 99),
        "refused": len(retry) / len(answers),
        "retryAfter p50": statistics.median(retry) if retry else float("nan"),
        "kinds": Counter(kind for kind, _, _ in answers),
    }


def main() -> None:
    args = parse_args()
    database_url, _ = start_database()
    runs = {
        "unbounded": asyncio.run(flood(database_url, UNBOUNDED, args.rate, args.seconds)),
        "bounded": asyncio.run(flood(database_url, args.queue, args.rate, args.seconds)),
    }
    threads, waiting, cost = runs["bounded"]["sizing"]
    print(
        f"python {platform.python_version()}; {args.rate:g} logins/s for {args.seconds:g} s; "
        f"{threads} hashing threads, one hash {cost * 1000:.1f} ms; bounded queue {waiting}"
    )
    results = {name: summary(run) for name, run in runs.items()}
    print(
        f"{'':10} {'p50 s':>7} {'p99 s':>7} {'adm. p50':>9} {'adm. p99':>9} {'refused':>8} "
        f"{'retryAfter':>10}  answers"
    )
    for name, r in results.items():
        print(
            f"{name:10} {r['p50']:7.3f} {r['p99']:7.3f} {r['admitted p50']:9.3f} "
            f"{r['admitted p99']:9.3f} {r['refused']:8.1%} {r['retryAfter p50']:10g}  "
            f"{dict(r['kinds'])}"
        )
    bounded, unbounded = results["bounded"], results["unbounded"]
    print(
        "bounded / unbounded: "
        + ", ".join(
            f"{key} {bounded[key] / unbounded[key]:.3f}x"
            for key in ("p50", "p99", "admitted p50", "admitted p99")
        )
    )


if __name__ == "__main__":
    main()
