"""The Node clients in tests/clients (CLIENTS): running a script for its JSON report
(client_report), and a signed-up person as the scripts take one (person)."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import httpx

from rapport.settings import PROJECT_ROOT
from tests.support.ids import user_of
from tests.support.mailbox import PASSWORD, sign_up_sync
from tests.support.people import profile_input
from tests.support.servers import ServerProcess

CLIENTS = PROJECT_ROOT / "tests" / "clients"
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
    token, me = signed_up["token"], signed_up["me"]["id"]
    found = {"token": token, "id": me, "user": user_of(me), "email": email, "password": PASSWORD}
    if with_profile:  # else the script creates it (a mutation to check too)
        created = post(
            {"query": CREATE, "variables": {"i": profile_input(displayName=name)}}, token
        )
        assert created["data"]["createProfile"]["__typename"] == "OwnProfile", created
    return found


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
