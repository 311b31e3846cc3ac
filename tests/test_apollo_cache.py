"""Apollo Client's normalised cache stays current after every mutation (issue 13 item 4).

tests/clients/cache.mjs runs a real Apollo Client (InMemoryCache with the generated
possibleTypes, default __typename+id identity) against a real uvicorn: it watches the
queries an app keeps open (me, matches, conversations, messages, notifications, interest
requests), runs each mutation with exactly the cache code README Clients → "Apollo Client:
cache and persisted queries" documents, and then compares, for every watched query, what
the cache (and the watcher) holds with what the server answers now. Nothing may differ.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import PASSWORD, ServerProcess, running_server
from tests.mailbox import sign_up_sync
from tests.test_profiles import profile_input

CLIENTS = Path(__file__).parent / "clients"
NODE = shutil.which("node")
CREATE = "mutation($i: CreateProfileInput!) { createProfile(input: $i) { __typename } }"


def person(
    http: httpx.Client, database_url: str, name: str, with_profile: bool = True
) -> dict[str, str]:
    def post(body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer: dict[str, Any] = http.post("/graphql", json=body, headers=headers).json()
        return answer

    email = f"cache-{name}-{uuid.uuid4().hex[:8]}@example.com"
    signed_up = sign_up_sync(post, database_url, email, PASSWORD)
    token = signed_up["token"]
    if not with_profile:  # the script creates it (a mutation to check too)
        return {"token": token, "id": signed_up["me"]["id"]}
    created = post({"query": CREATE, "variables": {"i": profile_input(displayName=name)}}, token)
    assert created["data"]["createProfile"]["__typename"] == "OwnProfile", created
    return {"token": token, "id": signed_up["me"]["id"]}


def client_report(node: str, script: str, setup: dict[str, Any], server: ServerProcess) -> Any:
    """Run tests/clients/`script` with `setup` (JSON) as its argument: the JSON report it
    prints on its last line."""
    done = subprocess.run(
        [node, script, json.dumps(setup)],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (done.stderr, server.log)
    return json.loads(done.stdout.splitlines()[-1])


def test_no_watched_query_goes_stale(database_url: str, tmp_path: Path) -> None:
    assert NODE, "node is needed for the client tests"
    with running_server(database_url, tmp_path / "server.log") as server:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            people = {name: person(http, database_url, name) for name in ("bo", "cy", "di")}
            people["ann"] = person(http, database_url, "ann", with_profile=False)
        setup = {"url": f"{server.base_url}/graphql", "people": people}
        report: dict[str, Any] = client_report(NODE, "cache.mjs", setup, server)
    assert not report.get("errors"), report["errors"]
    # Every step ran, with every watched query compared after it.
    assert [s["mutation"] for s in report["steps"]] == report["planned"]
    assert all(s["compared"] for s in report["steps"]), report["steps"]
    stale = [
        f"{s['mutation']}: {d['query']} {d['source']} at {d['path']}: "
        f"{json.dumps(d['cached'])} != {json.dumps(d['server'])}"
        for s in report["steps"]
        for d in s["stale"]
    ]
    assert not stale, "stale after a mutation:\n" + "\n".join(stale)
