"""Configuration from the environment: defaults, and bad values named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from vbranch_server.settings import ConfigError, Settings, load_settings


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = load_settings({"VBRANCH_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'vbranch.db'}"
    assert settings.redis_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert len(settings.secret_key) >= 32
    # The generated key is kept, so a restart keeps staff logged in.
    assert load_settings({"VBRANCH_DATA_DIR": str(tmp_path)}).secret_key == settings.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_values(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "VBRANCH_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://vb:pw@db:5432/vbranch",
            "REDIS_URL": "redis://redis:6379/0",
            "VBRANCH_SECRET_KEY": "k" * 40,
            "VBRANCH_LISTEN": "0.0.0.0:9000",
            "VBRANCH_STUN_URLS": "stun:stun.example.org:3478",
            "VBRANCH_TURN_URLS": "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349",
            "VBRANCH_TURN_SECRET": "s3cret",
            "VBRANCH_UPLOAD_MAX_BYTES": "2048",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://vb:pw@db:5432/vbranch"
    assert settings.redis_url == "redis://redis:6379/0"
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.turn_urls == (
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349",
    )
    assert settings.stun_urls == ("stun:stun.example.org:3478",)
    assert settings.upload_max_bytes == 2048


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/vb"),
        ("DATABASE_URL", "postgresql:///nohost"),
        ("REDIS_URL", "http://localhost:6379"),
        ("VBRANCH_SECRET_KEY", "short"),
        ("VBRANCH_LISTEN", "8080"),
        ("VBRANCH_LISTEN", "127.0.0.1:99999"),
        ("VBRANCH_LISTEN", "127.0.0.1:http"),
        ("VBRANCH_TURN_URLS", "http://turn.example.org"),
        ("VBRANCH_STUN_URLS", "turn:wrong-scheme"),
        ("VBRANCH_UPLOAD_MAX_BYTES", "ten"),
        ("VBRANCH_UPLOAD_MAX_BYTES", "12"),
        ("VBRANCH_SESSION_TTL", "-5"),
        ("VBRANCH_SECURE_COOKIES", "maybe"),
        ("VBRANCH_SOURCE_URL", "github.com/someone/vbranch"),
        ("VBRANCH_SOURCE_URL", "ftp://example.org/vbranch.tar.gz"),
        ("VBRANCH_SOURCE_URL", "https://"),
        ("VBRANCH_SOURCE_URL", "https://example.org/a b"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings({"VBRANCH_DATA_DIR": str(tmp_path), variable: value})


def test_turn_urls_need_the_shared_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VBRANCH_TURN_SECRET"):
        load_settings({"VBRANCH_DATA_DIR": str(tmp_path), "VBRANCH_TURN_URLS": "turn:t:3478"})


def test_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="VBRANCH_DATA_DIR"):
        load_settings({"VBRANCH_DATA_DIR": str(blocker)})


def test_the_contact_centers_time_zone_is_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"VBRANCH_DATA_DIR": str(tmp_path)}
    assert load_settings(base).timezone == "UTC"
    assert str(load_settings({**base, "VBRANCH_TIMEZONE": " Asia/Riyadh "}).zone) == "Asia/Riyadh"
    for bad in ("Mars/Olympus", "../etc/passwd", "UTC+3", "America", "Europe/"):
        with pytest.raises(ConfigError, match="VBRANCH_TIMEZONE must be a time zone name"):
            load_settings({**base, "VBRANCH_TIMEZONE": bad})


def test_secure_cookies_by_default_and_off_for_plain_http(tmp_path: Path) -> None:
    base = {"VBRANCH_DATA_DIR": str(tmp_path)}
    assert load_settings(base).secure_cookies is True
    assert Settings("sqlite://", None, "k", tmp_path).secure_cookies is True
    assert load_settings({**base, "VBRANCH_SECURE_COOKIES": "false"}).secure_cookies is False


def test_the_source_link(tmp_path: Path) -> None:
    base = {"VBRANCH_DATA_DIR": str(tmp_path)}
    assert load_settings(base).source_url is None  # the server's own /source
    url = "https://git.example.org/branch/vbranch"
    assert load_settings({**base, "VBRANCH_SOURCE_URL": f" {url} "}).source_url == url
