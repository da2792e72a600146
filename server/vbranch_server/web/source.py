"""The source code of the running server, as the AGPL-3.0 asks (section 13): every page's footer
links to it.

By default the link is `/source`, an archive of the installed source folders made by the server
itself, so what a user downloads is what this process runs, changes included. An operator who
publishes the source elsewhere sets VBRANCH_SOURCE_URL, and `/source` sends people there.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web

from vbranch_server.keys import SETTINGS
from vbranch_server.settings import Settings
from vbranch_server.web.security import public

routes = web.RouteTableDef()

#: What building and running vbranch takes; never the data folder, .venv, node_modules or .git.
SOURCE_ENTRIES = (
    "LICENSE",
    "README.md",
    "pyproject.toml",
    "package.json",
    "package-lock.json",
    "Dockerfile",
    "docker-compose.yml",
    ".dockerignore",
    "server",
    "signaling",
    "queue",
    "client_web",
    "agent_console",
    "docs",
    "deploy",
    "scripts",
)
_SKIPPED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".egg-info")


class _Archive:
    """The archive, built on first request and kept (the source does not change while running)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.body: bytes | None = None


_ARCHIVE = web.AppKey("source_archive", _Archive)


def setup_source(app: web.Application) -> None:
    app[_ARCHIVE] = _Archive()
    app.router.add_routes(routes)


def source_url(settings: Settings) -> str:
    return settings.source_url or "/source"


def archive_name() -> str:
    try:
        return f"vbranch-{version('vbranch')}"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "vbranch"


def _wanted(path: Path) -> bool:
    return not any(p in _SKIPPED_NAMES or p.endswith(_SKIPPED_SUFFIXES) for p in path.parts)


def build_archive(root: Path, top: str) -> bytes:
    """A .tar.gz of the source entries under `root`, each under the folder `top`/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in SOURCE_ENTRIES:
            path = root / entry
            if path.is_file():
                tar.add(path, f"{top}/{entry}")
            elif path.is_dir():
                for file in sorted(path.rglob("*")):
                    relative = file.relative_to(root)
                    if file.is_file() and not file.is_symlink() and _wanted(relative):
                        tar.add(file, f"{top}/{relative.as_posix()}")
    return buffer.getvalue()


@routes.get("/source")
@public
async def source_archive(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.source_url:
        raise web.HTTPFound(settings.source_url)
    # Built in a thread (compressing a few MB would stall every socket), and only by the first
    # of several simultaneous requests; the others wait for it and get the same bytes.
    archive = request.app[_ARCHIVE]
    async with archive.lock:
        if archive.body is None:
            archive.body = await asyncio.to_thread(build_archive, settings.web_root, archive_name())
    return web.Response(
        body=archive.body,
        content_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{archive_name()}-source.tar.gz"'},
    )
