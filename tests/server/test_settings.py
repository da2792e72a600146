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
        ("VBRANCH_OPEN_VISITS_PER_ADDRESS", "0"),
        ("VBRANCH_OPEN_VISITS_PER_ADDRESS", "three"),
        ("VBRANCH_SOCKETS_PER_VISIT", "0"),
        ("VBRANCH_SOCKETS_PER_VISIT", "101"),
        ("VBRANCH_CHAT_PER_SECOND", "0"),
        ("VBRANCH_CHAT_PER_SECOND", "nan"),
        ("VBRANCH_CHAT_PER_SECOND", "fast"),
        ("VBRANCH_CHAT_BURST", "0"),
        ("VBRANCH_SIGNALS_PER_SECOND", "inf"),
        ("VBRANCH_SIGNAL_BURST", "1.5"),
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


def test_the_upload_caps_per_call_and_the_disk_reserve(tmp_path: Path) -> None:
    base = {"VBRANCH_DATA_DIR": str(tmp_path)}
    defaults = load_settings(base)
    assert (
        defaults.uploads_per_call,
        defaults.upload_bytes_per_call,
        defaults.min_free_disk_mb,
    ) == (20, 50 * 1024 * 1024, 512)
    chosen = load_settings(
        {
            **base,
            "VBRANCH_UPLOADS_PER_CALL": "5",
            "VBRANCH_UPLOAD_BYTES_PER_CALL": "1048576",
            "VBRANCH_MIN_FREE_DISK_MB": "0",
        }
    )
    assert (chosen.uploads_per_call, chosen.upload_bytes_per_call, chosen.min_free_disk_mb) == (
        5,
        1048576,
        0,
    )
    for variable, bad in (
        ("VBRANCH_UPLOADS_PER_CALL", "0"),
        ("VBRANCH_UPLOADS_PER_CALL", "many"),
        ("VBRANCH_UPLOAD_BYTES_PER_CALL", "12"),
        ("VBRANCH_UPLOAD_BYTES_PER_CALL", "50MiB"),
        ("VBRANCH_MIN_FREE_DISK_MB", "-1"),
    ):
        with pytest.raises(ConfigError, match=variable):
            load_settings({**base, variable: bad})


def test_the_abuse_caps(tmp_path: Path) -> None:
    defaults = load_settings({"VBRANCH_DATA_DIR": str(tmp_path)})
    assert (defaults.open_visits_per_address, defaults.sockets_per_visit) == (3, 3)
    assert (defaults.chat_per_second, defaults.chat_burst) == (2.0, 20)
    assert (defaults.signals_per_second, defaults.signal_burst) == (20.0, 200)
    settings = load_settings(
        {
            "VBRANCH_DATA_DIR": str(tmp_path),
            "VBRANCH_OPEN_VISITS_PER_ADDRESS": "5",
            "VBRANCH_SOCKETS_PER_VISIT": "2",
            "VBRANCH_CHAT_PER_SECOND": "0.5",
            "VBRANCH_CHAT_BURST": "4",
            "VBRANCH_SIGNALS_PER_SECOND": "50",
            "VBRANCH_SIGNAL_BURST": "300",
        }
    )
    assert (settings.open_visits_per_address, settings.sockets_per_visit) == (5, 2)
    assert (settings.chat_per_second, settings.chat_burst) == (0.5, 4)
    assert (settings.signals_per_second, settings.signal_burst) == (50.0, 300)


def test_redis_timeout_and_tls_files(tmp_path: Path) -> None:
    base = {"VBRANCH_DATA_DIR": str(tmp_path)}
    defaults = load_settings(base)
    assert defaults.redis_timeout_seconds == 5.0
    assert defaults.redis_ca_file is defaults.redis_cert_file is defaults.redis_key_file is None
    assert load_settings({**base, "VBRANCH_REDIS_TIMEOUT": "0.5"}).redis_timeout_seconds == 0.5
    for bad in ("five", "0", "-1", "301", "nan"):
        with pytest.raises(ConfigError, match="VBRANCH_REDIS_TIMEOUT"):
            load_settings({**base, "VBRANCH_REDIS_TIMEOUT": bad})

    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    tls = {
        **base,
        "REDIS_URL": "rediss://:pw@redis:6380/0",
        "VBRANCH_REDIS_CA_FILE": str(files["ca"]),
        "VBRANCH_REDIS_CERT_FILE": str(files["cert"]),
        "VBRANCH_REDIS_KEY_FILE": str(files["key"]),
    }
    settings = load_settings(tls)
    assert (settings.redis_ca_file, settings.redis_cert_file, settings.redis_key_file) == (
        files["ca"],
        files["cert"],
        files["key"],
    )
    with pytest.raises(ConfigError, match=r"VBRANCH_REDIS_CA_FILE: .* is not a readable file"):
        load_settings({**tls, "VBRANCH_REDIS_CA_FILE": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match=r"VBRANCH_REDIS_CA_FILE is for TLS: .*rediss://"):
        load_settings({**tls, "REDIS_URL": "redis://redis:6379/0"})
    with pytest.raises(ConfigError, match="VBRANCH_REDIS_CERT_FILE and VBRANCH_REDIS_KEY_FILE"):
        load_settings({**tls, "VBRANCH_REDIS_KEY_FILE": ""})


def test_the_connection_checks_addresses(tmp_path: Path) -> None:
    """By default the echo peer reaches public addresses only and announces loopback only."""
    defaults = load_settings({"VBRANCH_DATA_DIR": str(tmp_path)})
    assert defaults.echo_allow_private_peers is False
    assert defaults.echo_host_addresses == ("127.0.0.1",)
    chosen = load_settings(
        {
            "VBRANCH_DATA_DIR": str(tmp_path),
            "VBRANCH_ECHO_ALLOW_PRIVATE_PEERS": "true",
            "VBRANCH_ECHO_HOST_ADDRESSES": " 203.0.113.10, 2001:db8::0:1 ",
        }
    )
    assert chosen.echo_allow_private_peers is True
    assert chosen.echo_host_addresses == ("203.0.113.10", "2001:db8::1")
    relay_only = {"VBRANCH_DATA_DIR": str(tmp_path), "VBRANCH_ECHO_HOST_ADDRESSES": "None"}
    assert load_settings(relay_only).echo_host_addresses == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VBRANCH_ECHO_ALLOW_PRIVATE_PEERS", "sometimes"),
        ("VBRANCH_ECHO_HOST_ADDRESSES", "eth0"),
        ("VBRANCH_ECHO_HOST_ADDRESSES", "10.0.0.0/8"),
        ("VBRANCH_ECHO_HOST_ADDRESSES", "127.0.0.1,,none"),
        ("VBRANCH_ECHO_HOST_ADDRESSES", "0.0.0.0"),
        ("VBRANCH_ECHO_HOST_ADDRESSES", "ff02::1"),
    ],
)
def test_a_bad_connection_check_setting_names_its_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings({"VBRANCH_DATA_DIR": str(tmp_path), variable: value})


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
