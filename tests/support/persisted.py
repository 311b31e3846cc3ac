"""Persisted queries: the request extension naming one (persisted) and `rapport documents`
(documents_cli)."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from rapport.cli import cli
from rapport.settings import PROJECT_ROOT


def persisted(key: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": key}}


def documents_cli(database_url: str, *args: str) -> Any:
    env = {
        "DATABASE_URL": database_url,
        "RAPPORT_ENV": "test",
        "RAPPORT_SECRET_KEY": "k" * 48,
        "RAPPORT_DATA_DIR": str(PROJECT_ROOT / "var"),
    }
    return CliRunner().invoke(cli, ["documents", *args], env=env)
