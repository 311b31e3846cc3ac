"""The `rapport` command line: serve, migrate, db, schema, seed, embed."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rapport import db, embedded, migrations
from rapport.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from matching.embeddings import AsyncEncoder

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
        # Chat frames are a few hundred bytes of JSON: compressing them saves little and costs
        # CPU on every frame and a zlib context per socket (bench/chat.py measured it).
        ws_per_message_deflate=False,
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


@cli.command("moderator")
def moderator_command(
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Make them a member again.")] = False,
) -> None:
    """Make an account a moderator (or, with --revoke, a member again)."""
    from models import UserRole
    from resolvers.moderation import set_role

    settings = prepared_settings(load_settings())
    role = UserRole.MEMBER if revoke else UserRole.MODERATOR

    async def run() -> bool:
        engine = db.create_engine(settings)
        try:
            async with db.create_sessionmaker(engine)() as session:
                return await set_role(session, email, role)
        finally:
            await engine.dispose()

    if not asyncio.run(run()):
        raise fail(f"no account has the email {email!r}")
    typer.echo(f"{email} is now a {role.value} (running servers see it within a minute).")


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


# --- seed and embed ---------------------------------------------------------------------------


@cli.command("seed")
def seed_command(
    users: Annotated[int, typer.Option("--users", min=1, help="How many people to create.")],
    random_seed: Annotated[
        int, typer.Option("--seed", help="Which synthetic people (same seed, same people).")
    ] = 0,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="People created at the same time.")
    ] = 8,
) -> None:
    """Create synthetic people through the API's own code paths (demo password for all)."""
    import time

    from rapport.seed import DEMO_PASSWORD, existing_emails, generate, seed

    settings = prepared_settings(load_settings())

    async def run() -> tuple[int, int, float, str]:
        from rapport.resources import open_resources

        typer.echo("Loading the encoder ...", err=True)
        async with open_resources(settings) as resources:
            specs = generate(users, random_seed)
            existing = await existing_emails(resources, specs)
            todo = [s for s in specs if s.email not in existing]
            started = time.perf_counter()
            await seed(resources, todo, concurrency=concurrency)
            return len(todo), len(existing), time.perf_counter() - started, specs[0].email

    try:
        created, skipped, seconds, example = asyncio.run(run())
    except KeyboardInterrupt:
        typer.echo(
            "\nInterrupted. Run the same command again to add the rest: people who already "
            "have an account are skipped.",
            err=True,
        )
        raise typer.Exit(130) from None
    rate = f" ({created / seconds:.0f} people/s)" if created and seconds > 0 else ""
    typer.echo(f"Created {created} people in {seconds:.1f} s{rate}; {skipped} already existed.")
    typer.echo(f"Every seeded account's password is {DEMO_PASSWORD!r} (e.g. {example}).")


@dataclass
class EmbedProgress:
    """What an embedding run has done so far (read after an interruption too)."""

    model: str = ""
    pending: int = 0  # at the start
    done: int = 0  # embedded and committed
    batches: int = 0


async def embed_pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    encoder: AsyncEncoder,
    *,
    batch: int = 64,
    progress: bool = True,
    max_batches: int | None = None,
    state: EmbedProgress | None = None,
) -> EmbedProgress:
    """(Re)embed every profile whose embedding is missing or made by another encoder, `batch`
    profiles per transaction: an interruption loses at most the batch in flight, and a rerun
    resumes where this one stopped. `max_batches` stops early (tests)."""
    from tqdm import tqdm

    from matching.embeddings import count_pending, embed_profiles, pending

    state = state or EmbedProgress()
    state.model = encoder.name
    async with sessionmaker() as session:
        state.pending = await count_pending(session, encoder.name)
    with tqdm(
        total=state.pending, unit="profiles", disable=not progress or not state.pending
    ) as bar:
        while max_batches is None or state.batches < max_batches:
            async with sessionmaker() as session:
                items = await pending(session, encoder.name, batch)
                if not items:
                    break
                count = await embed_profiles(session, encoder, items)
                await session.commit()
            state.done += count
            state.batches += 1
            bar.update(count)
            if count == 0:  # nothing it could do (cannot happen for pending rows): stop
                break
    return state


@cli.command()
def embed(
    batch: Annotated[
        int, typer.Option(min=1, max=1000, help="Profiles per batch (one commit each).")
    ] = 64,
) -> None:
    """(Re)embed every profile that needs it, e.g. after the encoder changed. Resumable."""
    state = EmbedProgress()

    async def run() -> None:
        from rapport.resources import open_resources

        typer.echo("Loading the encoder ...", err=True)
        async with open_resources(settings) as resources:
            await embed_pending(
                resources.sessionmaker, resources.matcher.encoder, batch=batch, state=state
            )

    try:
        settings = prepared_settings(load_settings())
        asyncio.run(run())
    except KeyboardInterrupt:
        typer.echo(
            f"\nInterrupted: {state.done} of {state.pending} profiles were embedded and saved. "
            "Run `rapport embed` again to resume.",
            err=True,
        )
        raise typer.Exit(130) from None
    if state.done:
        typer.echo(f"Embedded {state.done} profiles with {state.model}; none left pending.")
    else:
        typer.echo(f"Nothing to embed: every profile has an embedding from {state.model}.")


# --- operators' tools: the outbox, importing people ------------------------------------------

mail_cli = typer.Typer(no_args_is_help=True, help="Email Rapport queued (the outbox table).")
cli.add_typer(mail_cli, name="mail")


def _with_session(settings: Settings, work: Any) -> Any:
    async def run() -> Any:
        engine = db.create_engine(settings)
        try:
            async with db.create_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@mail_cli.command("list")
def mail_list(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many, newest first.")] = 50,
) -> None:
    """The newest emails: to, subject, status (queued, sent, failed), created at."""
    from rapport.outbox_view import recent, table

    settings = prepared_settings(load_settings())
    rows = _with_session(settings, lambda s: recent(s, limit=limit))
    typer.echo(table(rows) if rows else "The outbox is empty.")


@mail_cli.command("show")
def mail_show(
    email: Annotated[str, typer.Argument(help="The address the email went to.")],
    count: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 1,
) -> None:
    """The newest email(s) to an address in full (a sign-up email holds its code)."""
    from rapport.outbox_view import full, recent
    from rapport.settings import Environment

    settings = prepared_settings(load_settings())
    if settings.env is Environment.PRODUCTION:
        typer.secho(
            "warning: production: unsent emails hold live sign-up codes; do not share them",
            err=True,
            fg=typer.colors.YELLOW,
        )
    rows = _with_session(settings, lambda s: recent(s, to=email, limit=count))
    if not rows:
        raise fail(f"no email to {email!r} in the outbox")
    typer.echo("\n".join(full(r) for r in rows))


@cli.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, a person a line.")
    ],
) -> None:
    """Create people from a JSONL file through the API's code (README: Importing people)."""
    from rapport import importer

    settings = prepared_settings(load_settings())

    async def run() -> importer.Report:
        from rapport.resources import open_resources

        typer.echo("Loading the encoder ...", err=True)
        async with open_resources(settings) as resources:
            return await importer.run(resources, str(file))

    report = asyncio.run(run())
    typer.echo(
        f"Created {report.created}, skipped {report.skipped} (already had an account), "
        f"failed {report.failed}."
    )
    if report.failed:
        raise typer.Exit(1)


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
