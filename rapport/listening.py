"""Where this process really listens, for the "Rapport ready" line.

The app's lifespan cannot ask uvicorn, and settings may not say it (`uvicorn app:create_app
--port 8203` leaves RAPPORT_PORT at its default): so ask the operating system which TCP
sockets this process listens on (with several workers, the one they share).
"""

from __future__ import annotations

import asyncio
import logging

import psutil

log = logging.getLogger("rapport.app")


def listening_urls() -> list[str]:
    """http://HOST:PORT of every TCP socket this process listens on, in a stable order."""
    try:
        connections = psutil.Process().net_connections(kind="inet")
    except (psutil.Error, OSError):
        return []
    found = sorted(
        {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    )
    return [f"http://{f'[{ip}]' if ':' in ip else ip}:{port}" for ip, port in found]


async def log_ready_once_listening(timeout_s: float = 10.0) -> None:
    """Log the ready line once the server listens: with one process uvicorn binds its socket
    just after the lifespan started; with several the socket exists already."""
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + timeout_s, 0.02
    while not (urls := listening_urls()) and loop.time() < deadline:
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)
    where = ", ".join(f"{url}/graphql" for url in urls) or "the address uvicorn reports"
    log.info("Rapport ready: GraphQL at %s", where)
