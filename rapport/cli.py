"""The `rapport` command line: serve, migrate, db, schema."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from rapport import db, embedded, migrations
from rapport.settings import PROJECT_ROOT, Settings

cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Rapport: matching and chat over GraphQL."
)
db_cli = typer.Typer(no_args_is_help=True, help="The database Rapport uses.")
cli.add_typer(db_cli, name="db")


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def load_settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic ValidationError: show the messages, not a traceback
        errors = getattr(exc, "errors", None)
        text = "; ".join(e["msg"] for e in errors()) if errors else str(exc)
        raise fail(f"bad settings: {text}") from None


def prepared_settings(settings: Settings) -> Settings:
    """Start the embedded PostgreSQL if no DATABASE_URL is set, check the server, migrate."""
    if settings.embedded:
        typer.echo(f"Starting embedded PostgreSQL in {settings.pgdata} ...", err=True)
        settings = settings.with_database_url(embedded.start(settings.pgdata))
    assert settings.database_url is not None

    async def check() -> None:
        engine = db.create_engine(settings)
        try:
            await db.check_usable(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except db.DatabaseUnusable as exc:
        raise fail(str(exc)) from None
    migrations.upgrade(settings.database_url)
    return settings


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: RAPPORT_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: RAPPORT_PORT (8000).")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the server (embedded PostgreSQL unless DATABASE_URL is set), migrating first."""
    import os

    import uvicorn

    settings = load_settings()
    settings = prepared_settings(settings)
    host, port = host or settings.host, port or settings.port
    # The app reads its settings from the environment: hand it the database we prepared.
    os.environ["DATABASE_URL"] = settings.database_url or ""
    os.environ["RAPPORT_HOST"], os.environ["RAPPORT_PORT"] = host, str(port)
    uvicorn.run(
        "app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        ws="websockets-sansio",
    )


@cli.command()
def migrate() -> None:
    """Apply database migrations up to the latest."""
    settings = prepared_settings(load_settings())
    typer.echo(
        f"Database at {db.describe(settings.database_url or '')} is at the latest migration."
    )


@db_cli.command("url")
def db_url() -> None:
    """Print the database URL (starting the embedded server if needed), e.g. for psql."""
    settings = load_settings()
    if settings.embedded:
        url = embedded.start(settings.pgdata, cleanup_mode=None)
        typer.echo(url.replace("postgresql+asyncpg", "postgresql"))
    else:
        typer.echo(settings.database_url)


@db_cli.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL if it is running (its data stays)."""
    settings = load_settings()
    if not settings.embedded:
        raise fail("DATABASE_URL is set: Rapport does not manage that server")
    if embedded.stop(settings.pgdata):
        typer.echo("Embedded PostgreSQL stopped.")
    else:
        typer.echo("Embedded PostgreSQL is not running.")


@cli.command("schema")
def export_schema(
    output: Annotated[Path, typer.Option(help="Where to write the SDL.")] = PROJECT_ROOT
    / "schema.graphql",
    check: Annotated[bool, typer.Option(help="Only check that the file is up to date.")] = False,
) -> None:
    """Write the GraphQL schema (SDL) to schema.graphql, or check it is current."""
    from schema import schema

    sdl = schema.as_str() + "\n"
    if check:
        if not output.exists() or output.read_text() != sdl:
            raise fail(f"{output} is out of date: run `rapport schema`")
        typer.echo(f"{output} is up to date.")
        return
    output.write_text(sdl)
    typer.echo(f"Wrote {output}")


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
