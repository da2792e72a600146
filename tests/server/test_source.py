"""AGPL-3.0 section 13: every page links to the source of the running server, which /source
serves as an archive (or a configured URL replaces); the licence text is the official one."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from vbranch_server.app import create_app
from vbranch_server.crm.demo import DEMO_LOGINS
from vbranch_server.i18n import Catalogs
from vbranch_server.settings import PROJECT_ROOT
from vbranch_server.web import source

from .test_security_headers import settled

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
#: The MD5 of https://www.gnu.org/licenses/agpl-3.0.txt, as GNU publishes it.
AGPL_3_MD5 = "73f1eb20517c55bf9493b7dd6e480788"
FOOTER = re.compile(r'<footer class="site-footer">(.*?)</footer>', re.S)

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PAGES = [
    (None, "/"),
    (None, "/visit"),
    (None, "/track"),
    (None, "/login"),
    ("agent.ar", "/console"),
    ("supervisor", "/supervisor"),
]


async def _page(client: TestClient, who: str | None, path: str, lang: str) -> str:
    if who is not None:
        login = await client.post("/api/login", json={"username": who, "password": PASSWORDS[who]})
        assert login.status == 200
    response = await client.get(path, params={"lang": lang})
    assert response.status == 200, path
    return await response.text()


@SQLITE
@pytest.mark.parametrize("lang", ["ar", "en"])
@pytest.mark.parametrize(("who", "path"), PAGES)
async def test_every_page_links_to_the_source(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data, who, path, lang
) -> None:
    texts = Catalogs.load().messages[lang]
    client = await aiohttp_client(create_app(settings, clock=clock))
    footer = FOOTER.search(await _page(client, who, path, lang))
    assert footer, path
    assert f'<a href="/source">{texts["footer.source"]}</a>' in footer.group(1)
    assert texts["footer.licence"] in footer.group(1)
    await settled(client)


@SQLITE
async def test_a_configured_url_replaces_the_archive(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data
) -> None:
    url = "https://git.example.org/branch/vbranch"
    configured = dataclasses.replace(settings, source_url=url)
    client = await aiohttp_client(create_app(configured, clock=clock))
    footer = FOOTER.search(await _page(client, None, "/visit", "en"))
    assert footer and f'<a href="{url}">' in footer.group(1)
    response = await client.get("/source", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (302, url)
    await settled(client)


@SQLITE
async def test_the_archive_holds_the_running_source_built_once(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data, monkeypatch
) -> None:
    builds = []
    real = source.build_archive

    def counting(root: Path, top: str) -> bytes:
        builds.append(top)
        return real(root, top)

    monkeypatch.setattr(source, "build_archive", counting)
    client = await aiohttp_client(create_app(settings, clock=clock))
    responses = await asyncio.gather(*(client.get("/source") for _ in range(5)))
    bodies = {await r.read() for r in responses}
    assert [r.status for r in responses] == [200] * 5 and len(bodies) == 1 and len(builds) == 1
    assert responses[0].headers["Content-Type"] == "application/gzip"
    assert "-source.tar.gz" in responses[0].headers["Content-Disposition"]
    await settled(client)

    with tarfile.open(fileobj=io.BytesIO(bodies.pop()), mode="r:gz") as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames()}
        app_py = tar.extractfile(f"{builds[0]}/server/vbranch_server/app.py")
        assert app_py is not None
        assert app_py.read() == (PROJECT_ROOT / "server/vbranch_server/app.py").read_bytes()
    for wanted in (
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "package.json",
        "package-lock.json",
        "server/vbranch_server/web/source.py",
        "signaling/vbranch_signaling/hub.py",
        "queue/vbranch_queue/store.py",
        "client_web/templates/base.html",
        "agent_console/static/console.js",
        "docs/protocol.md",
        "deploy/nginx.conf",
        "scripts/run.sh",
    ):
        assert wanted in names, wanted
    for name in names:
        assert not name.startswith(("data/", ".venv/", "node_modules/", ".git/", "tests/")), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name


def test_the_archive_leaves_out_secrets_and_build_leftovers(tmp_path: Path) -> None:
    files = {
        "LICENSE": "licence",
        "server/pkg/mod.py": "code",
        "server/pkg/__pycache__/mod.cpython-311.pyc": "bytecode",
        "server/vbranch.egg-info/PKG-INFO": "metadata",
        "data/secret_key": "secret",
        "data/vbranch.db": "customers",
        ".venv/bin/python": "binary",
        "node_modules/x/index.js": "dependency",
        ".git/config": "history",
    }
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    with tarfile.open(fileobj=io.BytesIO(source.build_archive(tmp_path, "top")), mode="r:gz") as t:
        assert sorted(t.getnames()) == ["top/LICENSE", "top/server/pkg/mod.py"]


def test_the_licence_is_the_official_agpl_text() -> None:
    text = (PROJECT_ROOT / "LICENSE").read_bytes()
    assert text.startswith(b"                    GNU AFFERO GENERAL PUBLIC LICENSE\n")
    assert hashlib.md5(text).hexdigest() == AGPL_3_MD5
