"""The shape of the repository: source folders, the stdlib `queue`, lint and layering, catalogs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from vbranch_server.i18n import load_catalog

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("folder", ["server", "signaling", "queue"])
def test_source_folders_are_not_packages(folder: str) -> None:
    assert (ROOT / folder).is_dir()
    assert not (ROOT / folder / "__init__.py").exists()


def test_import_queue_from_the_repo_root_is_the_standard_library() -> None:
    # The repo root first on sys.path, as `python -c` from the root puts it there.
    code = (
        "import sys, queue, concurrent.futures.thread; "
        "assert queue.__file__.startswith(sys.base_prefix) or 'python3' in queue.__file__, queue.__file__; "
        "queue.SimpleQueue(); print(queue.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not done.stdout.strip().startswith(str(ROOT / "queue"))


def test_project_packages_import_from_their_source_folders() -> None:
    import vbranch_queue
    import vbranch_server
    import vbranch_signaling

    assert Path(vbranch_server.__file__).is_relative_to(ROOT / "server")
    assert Path(vbranch_signaling.__file__).is_relative_to(ROOT / "signaling")
    assert Path(vbranch_queue.__file__).is_relative_to(ROOT / "queue")


def _run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    done = _run_tool(str(BIN / "ruff"), "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr
    formatted = _run_tool(str(BIN / "ruff"), "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_mypy_is_clean() -> None:
    # Checked with the rest, or it drifts: six errors had crept in while nothing ran it.
    done = _run_tool(str(BIN / "mypy"), "server", "signaling", "queue")
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_layers_hold() -> None:
    done = _run_tool(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


CATALOGS = ROOT / "server" / "vbranch_server" / "messages"


def test_a_catalog_is_merged_from_its_parts_and_a_key_may_not_be_defined_twice(tmp_path) -> None:
    (tmp_path / "en.json").write_text('{"a": "A"}')
    (tmp_path / "console.en.json").write_text('{"b": "B"}')
    (tmp_path / "open.json").write_text('{"c": "not English"}')
    assert load_catalog(tmp_path, "en") == {"a": "A", "b": "B"}
    (tmp_path / "other.en.json").write_text('{"a": "again"}')
    with pytest.raises(ValueError, match=r"other\.en\.json defines keys already defined: a"):
        load_catalog(tmp_path, "en")


def test_catalogs_have_the_same_keys_and_no_empty_text() -> None:
    ar = load_catalog(CATALOGS, "ar")
    en = load_catalog(CATALOGS, "en")
    assert set(ar) == set(en)
    assert all(v.strip() for v in [*ar.values(), *en.values()])
    # Placeholders must match, or one language would fail to format.
    for key in ar:
        assert set(re.findall(r"{(\w+)}", ar[key])) == set(re.findall(r"{(\w+)}", en[key])), key


def test_every_message_key_used_by_a_template_exists() -> None:
    en = load_catalog(CATALOGS, "en")
    templates = [
        *ROOT.glob("client_web/templates/*.html"),
        *ROOT.glob("agent_console/templates/*.html"),
    ]
    assert templates
    used = set()
    for template in templates:
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""", template.read_text("utf-8")))
    assert used, "no message keys found: the pattern is stale"
    assert used - set(en) == set()


ERROR_CODE = re.compile(
    r"""(?:HubError|ApiError|refused|EventError|FileRefused|_deny|error_response)\(\s*"""
    r"""(?:request,\s*)?(?:\d{3},\s*)?["']([a-z_]+)["']"""
    r"""|\bcode\s*=\s*["']([a-z_]+)["']"""
)


def test_every_error_code_the_server_sends_has_text_in_both_languages() -> None:
    """Pages show refusals from the catalog by code; the server's own messages are English."""
    sources = [*ROOT.glob("server/vbranch_server/**/*.py"), *ROOT.glob("signaling/**/*.py")]
    sources += [*ROOT.glob("queue/vbranch_queue/**/*.py")]
    codes = {
        code
        for source in sources
        for match in ERROR_CODE.finditer(source.read_text("utf-8"))
        for code in match.groups()
        if code
    }
    assert {"not_in_call", "wrong_state", "csrf_failed", "file_too_large"} <= codes, codes
    for lang in ("ar", "en"):
        catalog = load_catalog(CATALOGS, lang)
        assert sorted(c for c in codes if f"error.{c}" not in catalog) == [], lang
