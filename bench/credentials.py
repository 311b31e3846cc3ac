"""Credentials benchmark: do sign-up and login answers take the same time whether or not the
email has an account? (Issue 5: no enumeration "by a measurable difference in time".)

Runs the schema in process against a throwaway embedded PostgreSQL with production argon2
parameters, and times each workload many times, interleaved round-robin so that machine
noise falls on all of them alike:

- login: known email + right password (for reference: success does more), a wrong password
  for a known email (the baseline of failed logins), an unknown email;
- register: a new address (the baseline), an address that has an account, and a new
  address again (an A/A pair: what noise alone makes of two identical workloads);
- confirmRegistration: a wrong code for a pending sign-up (the baseline), any code for an
  unknown address.

Every probe of a known or pending address uses an address of its own, as an attacker's
probes would: a repeated one would find warm caches (rate-limit keys, for one) that an
unknown address cannot.

The order of the workloads is shuffled every round. Prints p50/p90 per workload and p50 as
a ratio of its group's baseline measured in the same run; within a group the answers differ
in time only by noise if the ratios sit at 1.00x (the A/A pair shows what noise alone does).

    .venv/bin/python bench/credentials.py [--rounds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from http_api import CONFIRM, PASSWORD, REGISTER, in_process_settings, start_database  # noqa: E402

from rapport.mail import latest_body  # noqa: E402
from rapport.resources import open_resources  # noqa: E402
from resolvers.accounts import code_in_email, create_account  # noqa: E402
from schema import schema  # noqa: E402
from schema.context import Context  # noqa: E402

LOGIN = """mutation($i: LoginInput!) { login(input: $i) { __typename } }"""
WARMUP = 3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=60, help="timings per workload (60)")
    return p.parse_args()


async def run(rounds: int, database_url: str) -> None:
    settings = in_process_settings(database_url)
    async with open_resources(settings) as resources:

        async def gql(query: str, variables: dict[str, Any]) -> str:
            context = Context(resources=resources)
            result = await schema.execute(query, variable_values=variables, context_value=context)
            assert result.errors is None and result.data, result
            return str(next(iter(result.data.values()))["__typename"])

        # Each probe of an existing account uses an account of its own, as an attacker's
        # probes would (a repeated address would find warm caches an unknown one cannot).
        known = "known@example.com"
        assert await gql(REGISTER, {"i": {"email": known, "password": PASSWORD}}) == (
            "RegistrationStarted"
        )
        code = code_in_email(await latest_body(resources.raw_pool, known))
        confirm = {"email": known, "code": code, "password": PASSWORD}
        assert await gql(CONFIRM, {"i": confirm}) == "AuthPayload"  # the API's own path
        total = rounds + WARMUP
        accounts = [f"account-{n}@example.com" for n in range(total)]
        pendings = [f"pending-{n}@example.com" for n in range(total)]
        async with resources.sessionmaker() as session:
            for email in accounts:
                await create_account(
                    session, resources.credentials, resources.token_ttl, email, PASSWORD
                )
        for email in pendings:
            await gql(REGISTER, {"i": {"email": email, "password": PASSWORD}})
        sequences = {
            "account": iter(accounts),
            "account again": iter(accounts),
            "pending": iter(pendings),
        }

        def next_of(kind: str) -> str:
            return next(sequences[kind])

        def fresh() -> str:
            return f"new-{uuid.uuid4().hex[:12]}@example.com"

        workloads: dict[str, tuple[str, Callable[[], Awaitable[str]], str]] = {
            "login, known email, right password": (
                "login",
                lambda: gql(LOGIN, {"i": {"email": known, "password": PASSWORD}}),
                "AuthPayload",
            ),
            "login, known email, wrong password": (
                "failed login",
                lambda: gql(LOGIN, {"i": {"email": next_of("account"), "password": "wrong pw!!"}}),
                "InvalidCredentials",
            ),
            "login, unknown email": (
                "failed login",
                lambda: gql(LOGIN, {"i": {"email": fresh(), "password": "wrong pw!!"}}),
                "InvalidCredentials",
            ),
            "register, new address": (
                "register",
                lambda: gql(REGISTER, {"i": {"email": fresh(), "password": PASSWORD}}),
                "RegistrationStarted",
            ),
            "register, address with an account": (
                "register",
                lambda: gql(
                    REGISTER, {"i": {"email": next_of("account again"), "password": PASSWORD}}
                ),
                "RegistrationStarted",
            ),
            "register, new address (noise floor: A/A)": (
                "register",
                lambda: gql(REGISTER, {"i": {"email": fresh(), "password": PASSWORD}}),
                "RegistrationStarted",
            ),
            "confirm, pending sign-up, wrong code": (
                "confirm",
                lambda: gql(
                    CONFIRM,
                    {"i": {"email": next_of("pending"), "code": "000000", "password": PASSWORD}},
                ),
                "ValidationError",
            ),
            "confirm, unknown address": (
                "confirm",
                lambda: gql(
                    CONFIRM, {"i": {"email": fresh(), "code": "000000", "password": PASSWORD}}
                ),
                "ValidationError",
            ),
        }
        timings: dict[str, list[float]] = {name: [] for name in workloads}
        for _ in range(WARMUP):  # warm-up: caches, pools, argon2's first allocations
            for _, call, _ in workloads.values():
                await call()
        order = list(workloads.items())
        shuffler = random.Random(0)
        for _ in range(rounds):
            # A fresh order every round: work an operation leaves behind (deferred writes,
            # the limiter's expiry task, garbage) must not always land on the same neighbour.
            shuffler.shuffle(order)
            for name, (_, call, expected) in order:
                started = time.perf_counter()
                answer = await call()
                timings[name].append((time.perf_counter() - started) * 1000)
                assert answer == expected, (name, answer)

    print(
        f"python {platform.python_version()}, argon2id {settings.argon2_memory_kib} KiB x "
        f"{settings.argon2_time_cost}; {rounds} timings per workload, interleaved"
    )
    print(f"{'workload':40} {'p50 ms':>8} {'p90 ms':>8} {'p50 vs baseline':>16}")
    baselines: dict[str, float] = {}
    for name, (group, _, _) in workloads.items():
        p50 = statistics.median(timings[name])
        p90 = statistics.quantiles(timings[name], n=10)[-1]
        base = baselines.setdefault(group, p50)
        print(f"{name:40} {p50:8.1f} {p90:8.1f} {p50 / base:15.2f}x")


def main() -> None:
    args = parse_args()
    database_url, _ = start_database()  # (migrates with asyncio.run: before the loop)
    asyncio.run(run(args.rounds, database_url))


if __name__ == "__main__":
    main()
