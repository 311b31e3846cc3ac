"""GraphiQL without internet.

Strawberry's GraphiQL page loads seven assets from a CDN, so it is blank offline. The set-up
step installs the same package versions from the npm registry into `node_modules/` beside this
file (`npm ci`, never committed); here we rewrite the page's CDN URLs to local ones and serve
exactly those files. The page keeps Strawberry's `integrity` hashes, so the browser itself checks
that our copies are byte-for-byte the files Strawberry pinned.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from strawberry.http.ides import get_graphql_ide_html

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"
ASSET_PREFIX = "/graphiql/assets/"
_CDN_URL = re.compile(
    r"https://unpkg\.com/(?P<package>(?:@[\w.-]+/)?[\w.-]+)@(?P<version>[\w.-]+)/(?P<path>[\w./-]+)"
)


class AssetsMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class OfflineGraphiQL:
    html: str
    files: dict[str, Path]  # URL path below ASSET_PREFIX -> file on disk

    @classmethod
    def load(cls, node_modules: Path = NODE_MODULES) -> OfflineGraphiQL:
        """Rewrite Strawberry's page; raise AssetsMissing if a file or version is not installed."""
        page = get_graphql_ide_html("graphiql")
        files: dict[str, Path] = {}
        problems: list[str] = []

        def local(match: re.Match[str]) -> str:
            package, version, path = match["package"], match["version"], match["path"]
            manifest = node_modules / package / "package.json"
            installed = json.loads(manifest.read_text())["version"] if manifest.exists() else None
            if installed != version:
                problems.append(f"{package}@{version} (installed: {installed or 'none'})")
            files[f"{package}/{path}"] = node_modules / package / path
            return f"{ASSET_PREFIX}{package}/{path}"

        html = _CDN_URL.sub(local, page)
        problems += [f"missing file {p}" for p in files.values() if not p.is_file()]
        if problems:
            raise AssetsMissing(
                "GraphiQL assets are not installed (run `make setup`): " + "; ".join(problems)
            )
        return cls(html=html, files=files)

    def routes(self) -> list[Route]:
        async def asset(request: Request) -> Response:
            path = self.files.get(request.path_params["path"])
            if path is None:
                return PlainTextResponse("Not found", status_code=404)
            return FileResponse(path, headers={"cache-control": "public, max-age=86400"})

        return [Route(ASSET_PREFIX + "{path:path}", asset, methods=["GET", "HEAD"])]
