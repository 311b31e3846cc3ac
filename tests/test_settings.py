"""Settings: parsing, refusals outside development, and the README documenting each one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rapport.settings import PROJECT_ROOT, Settings

STRONG = "k" * 20 + "Zq3-9fJ2sLx0Pw8uYt4"


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_development_defaults_need_nothing() -> None:
    s = settings()
    assert s.embedded and s.port == 8000 and s.host == "127.0.0.1"


@pytest.mark.parametrize("key", [None, "changeme", "secret", "short-but-random-1234"])
def test_production_refuses_missing_placeholder_or_short_secret(key) -> None:
    values = {"env": "production"} | ({"secret_key": key} if key else {})
    with pytest.raises(ValidationError, match="RAPPORT_SECRET_KEY"):
        settings(**values)


def test_production_refuses_placeholder_database_password() -> None:
    with pytest.raises(ValidationError, match="placeholder password"):
        settings(
            env="production", secret_key=STRONG, database_url="postgresql://app:changeme@db/rapport"
        )
    ok = settings(
        env="production",
        secret_key=STRONG,
        database_url="postgresql://app:Xy8-long-pass@db/rapport",
    )
    assert ok.database_url == "postgresql+asyncpg://app:Xy8-long-pass@db/rapport"


def test_database_url_must_be_postgresql_with_asyncpg() -> None:
    assert settings(database_url="postgres://u@h/d").database_url == "postgresql+asyncpg://u@h/d"
    for url in ("mysql://u@h/d", "postgresql+psycopg://u@h/d"):
        with pytest.raises(ValidationError):
            settings(database_url=url)


def test_argon2_cannot_go_below_owasp_minimum() -> None:
    with pytest.raises(ValidationError):
        settings(argon2_memory_kib=8192)
    with pytest.raises(ValidationError):
        settings(argon2_time_cost=1)


def test_environment_variables_are_read(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@y/z")
    monkeypatch.setenv("RAPPORT_MAX_PAGE_SIZE", "42")
    s = settings()
    assert s.database_url == "postgresql+asyncpg://x@y/z" and s.max_page_size == 42


def env_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.append(str(alias.choices[0]) if alias is not None else f"RAPPORT_{name.upper()}")  # type: ignore[union-attr]
    return names


def test_readme_documents_every_setting() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [n for n in env_names() if f"`{n}`" not in readme]
    assert missing == [], f"README's settings table lacks {missing}"
