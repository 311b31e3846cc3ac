"""Apollo Client's normalised cache stays current after every mutation (issue 13 item 4).

tests/clients/cache.mjs runs a real Apollo Client (InMemoryCache with the generated
possibleTypes, default __typename+id identity, a SetContextLink for the token and a
GraphQLWsLink for subscriptions) against a real uvicorn: it watches the queries an app keeps
open (me, matches, conversations, messages, notifications, interest requests,
recommendations; a moderator's client: reports and the people reported), runs every
mutation of the schema with exactly the cache code README Clients → "Apollo Client: cache
and persisted queries" documents, learns of what others do by subscription alone, and
compares, after each step, what the cache (and each watcher) holds with what the server
answers now. Nothing may differ; after a sign-in, sign-out or switch of person, the whole
cache must be what a new client for the new person holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from graphql import build_schema

from rapport.settings import PROJECT_ROOT
from tests.support.node_clients import client_report, person
from tests.support.servers import running_server

NODE = shutil.which("node")
# The subscriptions Ann's app holds (and Bo's, in the same client after a switch of person).
SUBSCRIPTIONS = {
    "notifications",
    "messageAdded(cy)",
    "typing(cy)",
    "readReceipts(cy)",
    "notifications (Bo)",
}
EVENT_TYPES = {
    "notifications": "Notification",
    "messageAdded": "Message",
    "typing": "Typing",
    "readReceipts": "ReadReceipt",
}
# Mutations after which the app switches person (README: switchPerson).
SWITCHES = {"login", "confirmRegistration", "logout", "logoutEverywhere", "deleteAccount"}


def make_moderator(database_url: str, email: str) -> None:
    """As an operator does (README, Reporting and moderation): `rapport moderator EMAIL`,
    before the account's first request (a running server sees a change within a minute)."""
    done = subprocess.run(
        [sys.executable, "-m", "rapport.cli", "moderator", email],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_no_watched_query_goes_stale(database_url: str, tmp_path: Path) -> None:
    assert NODE, "node is needed for the client tests"
    # Development: the script reads a sign-up code from GET /dev/outbox/latest, as the web
    # client does.
    with running_server(database_url, tmp_path / "server.log", RAPPORT_ENV="development") as server:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            names = ("bo", "cy", "di", "ed", "fi")
            people = {name: person(http, database_url, name) for name in names}
            people["ann"] = person(http, database_url, "ann", with_profile=False)
            people["mo"] = person(http, database_url, "mo", with_profile=False)
        make_moderator(database_url, people["mo"]["email"])
        setup = {"url": f"{server.base_url}/graphql", "people": people}
        report: dict[str, Any] = client_report(NODE, "cache.mjs", setup, server)
    assert not report.get("errors"), report["errors"]
    # Every step ran, with every watched query compared after it; every mutation was run.
    assert [s["mutation"] for s in report["steps"]] == report["planned"]
    schema = build_schema((PROJECT_ROOT / "schema.graphql").read_text())
    assert schema.mutation_type is not None
    missing = set(schema.mutation_type.fields) - {step.split()[0] for step in report["planned"]}
    assert not missing, f"mutations the script does not run: {sorted(missing)}"
    assert all(s["compared"] for s in report["steps"]), report["steps"]
    # After each switch of person, the whole cache was compared too.
    switches = [s for s in report["steps"] if s["mutation"].split()[0] in SWITCHES]
    assert len(switches) == 7 and all(s["switched"] for s in switches), switches
    # Every subscription the app held delivered, and only what it subscribed to.
    assert set(report["subscriptions"]) == SUBSCRIPTIONS, report["subscriptions"]
    for label, events in report["subscriptions"].items():
        assert events and set(events) == {EVENT_TYPES[label.split("(")[0].strip()]}, (label, events)
    stale = [
        f"{s['mutation']}: {d['query']} {d['source']} at {d['path']}: "
        f"{json.dumps(d['cached'])} != {json.dumps(d['server'])}"
        for s in report["steps"]
        for d in s["stale"]
    ]
    assert not stale, "stale after a mutation:\n" + "\n".join(stale)
