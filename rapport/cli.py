"""The `rapport` command line: serve, migrate, db, schema, seed, embed, mail, import,
documents."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import AliasChoices, ValidationError

from rapport import db, embedded, migrations
from rapport.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

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
    except ValidationError as exc:  # show the messages, not a traceback
        raise fail(f"bad settings: {'; '.join(map(describe_error, exc.errors()))}") from None
    except Exception as exc:  # e.g. pydantic-settings cannot decode a value
        raise fail(f"bad settings: {exc}") from None


def describe_error(error: Any) -> str:
    """One pydantic error as `VARIABLE[ entry]: message`, naming the environment variable."""
    message = str(error["msg"]).removeprefix("Value error, ")
    loc = [str(part) for part in error.get("loc", ())]
    if not loc or loc[0] not in Settings.model_fields:
        return message
    return ": ".join([env_name(loc[0]), *loc[1:], message])


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"RAPPORT_{field.upper()}"


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
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Processes on one socket (needs REDIS_URL if > 1). Default: RAPPORT_WORKERS (1).",
        ),
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the server (embedded PostgreSQL unless DATABASE_URL is set), migrating first.
    SIGTERM or Ctrl-C: open requests finish, then it exits (status 0), stopping the embedded
    PostgreSQL unless another `rapport` process still uses it."""
    import os

    import uvicorn

    from rapport.logging import uvicorn_log_config
    from rapport.metrics import prepare_for_workers
    from rapport.redis_check import RedisUnreachable, check_redis

    settings = load_settings()
    host, port = host or settings.host, port or settings.port
    workers = workers or settings.workers
    if workers > 1 and not settings.redis_url:
        raise fail(
            f"--workers {workers} needs REDIS_URL: the processes share chat events, rate limits "
            "and cache evictions through Redis"
        )
    if workers > 1 and reload:
        raise fail("--reload runs one process: leave out --workers or --reload")
    if settings.redis_url:
        try:
            asyncio.run(check_redis(settings.redis_url))
        except RedisUnreachable as exc:
            raise fail(str(exc)) from None
    own_database = settings.embedded
    with exit_on_stop_signals():
        try:
            settings = prepared_settings(settings)
            # The app reads its settings from the environment: hand it the database we
            # prepared, and the address (its ready line names it).
            os.environ["DATABASE_URL"] = settings.database_url or ""
            os.environ["RAPPORT_HOST"], os.environ["RAPPORT_PORT"] = host, str(port)
            prepare_for_workers(workers)  # metrics of several workers: see rapport/metrics.py
            uvicorn.run(
                "app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                reload=reload,
                access_log=False,
                log_config=uvicorn_log_config(settings),
                # Only proxies listed in RAPPORT_FORWARDED_ALLOW_IPS may set the client's
                # address (X-Forwarded-For), which rate limits count per.
                proxy_headers=settings.forwarded_allow_ips is not None,
                forwarded_allow_ips=settings.forwarded_allow_ips or "",
                timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
                ws="websockets-sansio",
                # Chat frames are a few hundred bytes of JSON: compressing them saves little and
                # costs CPU on every frame and a zlib context per socket (bench/chat.py measured).
                ws_per_message_deflate=False,
                ws_max_size=settings.max_body_bytes,  # a larger frame closes the socket (1009)
                # Header and body read timeouts, and the connection cap for websockets too.
                http="rapport.protocol:RapportHTTPProtocol",
                # uvicorn counts the connection asking among those open: one more serves
                # RAPPORT_MAX_CONNECTIONS others, and answers the next one 503.
                limit_concurrency=settings.max_connections + 1,
            )
        finally:
            if own_database and embedded.release(settings.pgdata):
                typer.echo("Embedded PostgreSQL stopped.", err=True)


class _Stop(BaseException):
    """Raised by our SIGTERM/SIGINT handler: unwinds `serve` so that it cleans up."""


@contextmanager
def exit_on_stop_signals() -> Iterator[None]:
    """While `serve` runs, SIGTERM and SIGINT end it normally (exit status 0, cleanup done).
    uvicorn installs handlers of its own while it serves, shuts down gracefully on these
    signals, then restores ours and raises the signal again: ours then ends the process,
    rather than the default action, which would kill it before any cleanup."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise _Stop(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except _Stop:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    """Write the GraphQL schema (SDL) to schema.graphql and, next to it, possibleTypes.json
    (what Apollo Client's InMemoryCache needs to match fragments on interfaces and unions), or
    check that both are current."""
    from schema import possible_types_json, schema

    files = {
        output: schema.as_str() + "\n",
        output.with_name(POSSIBLE_TYPES): possible_types_json(),
    }
    if check:
        for path, text in files.items():
            if not path.exists() or path.read_text() != text:
                raise fail(f"{path} is out of date: run `rapport schema`")
            typer.echo(f"{path} is up to date.")
        return
    for path, text in files.items():
        path.write_text(text)
        typer.echo(f"Wrote {path}")


POSSIBLE_TYPES = "possibleTypes.json"


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
    sessionmaker: async_sessionmaker[db.OperationSession],
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


# --- trusted documents ------------------------------------------------------------------------

documents_cli = typer.Typer(
    no_args_is_help=True, help="Trusted documents: operations registered from clients' builds."
)
cli.add_typer(documents_cli, name="documents")


@documents_cli.command("register")
def documents_register(
    manifest: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="persisted-documents.json ({id: document}: graphql-codegen, Relay) or Apollo's "
            "persisted-query manifest.",
        ),
    ],
) -> None:
    """Register a manifest's documents, each checked as a request would be; one bad entry
    and nothing is registered."""
    from rapport import documents

    settings = prepared_settings(load_settings())
    try:
        found = documents.read_manifest(manifest.read_text(encoding="utf-8"), settings)
        done = _with_session(settings, lambda s: documents.register(s, found))
    except (documents.ManifestError, UnicodeDecodeError) as exc:
        raise fail(f"{manifest}: {exc}; nothing was registered") from None
    typer.echo(
        f"Registered {done.added} documents ({done.already} were already registered) from "
        f"{manifest}."
    )


@documents_cli.command("list")
def documents_list() -> None:
    """Registered documents: id, type, operation name, characters, registered at."""
    from rapport import documents

    settings = prepared_settings(load_settings())
    rows = _with_session(settings, documents.listed)
    if not rows:
        typer.echo("No documents are registered.")
        return
    for row in rows:
        typer.echo(
            f"{row.id}  {row.operation_type:<12} {row.operation_name or '(anonymous)':<32} "
            f"{row.chars:>7} chars  {row.registered_at:%Y-%m-%d %H:%M:%S}"
        )


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
