"""The origins whose pages may use the API (RAPPORT_CORS_ORIGINS): parsed and checked here,
without importing Starlette or Strawberry, so that the settings stay cheap to import; applied
by rapport/cors.py."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

ANY = "*"
# Pages served from these hosts, on any port and over http or https: the default outside
# production (a Vite or webpack dev server on the developer's machine).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(origin: str) -> str | None:
    """`origin` as browsers send it in an Origin header (lowercase scheme and host, no
    default port, IPv6 in brackets); None for what is not an origin, e.g. "null"."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def parse_origins(value: str) -> tuple[str, ...]:
    """RAPPORT_CORS_ORIGINS, comma-separated, each normalised as browsers send an Origin
    (lowercase scheme and host, no default port); ValueError naming a bad entry."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    origins: list[str] = []
    for entry in entries:
        if entry == ANY:
            origins.append(ANY)
            continue
        parts = urlsplit(entry)
        normalised = normalise_origin(entry)
        if (
            normalised is None
            or parts.scheme.lower() not in ("http", "https")
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or "*" in entry
        ):
            raise ValueError(
                f"{entry!r} is not an origin: write scheme://host[:port], without a path "
                "(e.g. https://app.example.com, http://127.0.0.1:5173), or * alone"
            )
        origins.append(normalised)
    if ANY in origins and len(origins) > 1:
        raise ValueError("* allows every origin: give it alone, not with other origins")
    return tuple(dict.fromkeys(origins))


@dataclass(frozen=True)
class Origins:
    """The origins whose pages may call the API and open websockets."""

    listed: frozenset[str] = frozenset()
    loopback: bool = False  # any port of localhost, 127.0.0.1 and [::1]

    @property
    def any(self) -> bool:
        return ANY in self.listed

    def allows(self, origin: str) -> bool:
        if self.any:
            return True
        normalised = normalise_origin(origin)
        if normalised is None:  # "null" (file: pages, sandboxed frames) and garbage
            return False
        if normalised in self.listed:
            return True
        parts = urlsplit(normalised)
        return (
            self.loopback and parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS
        )

    def describe(self) -> str:
        shown = sorted(self.listed)
        if self.loopback:
            shown.insert(0, "localhost, 127.0.0.1 and [::1] on any port")
        return "; ".join(shown) or "none"
