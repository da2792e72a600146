"""Settings from environment variables: parsed once, validated, then passed around as one value."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vbranch_server.private_files import open_private, private_file, private_folder

#: The repository root: the front-end folders (client_web/, agent_console/, node_modules/) live here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_MIN_SECRET_LENGTH = 32
UPLOADS_FOLDER = "uploads"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl_seconds: int = 3600
    upload_max_bytes: int = 10 * 1024 * 1024
    #: Files, and their bytes in total, one call may receive: a customer sends a few documents,
    #: never a stream of them.
    uploads_per_call: int = 20
    upload_bytes_per_call: int = 50 * 1024 * 1024
    #: No upload is accepted while the uploads' file system has less free space than this: the
    #: database and the logs on the same disk keep room to work.
    min_free_disk_mb: int = 512
    session_ttl_seconds: int = 12 * 3600
    #: Cookies are Secure and `__Host-` named, and responses carry HSTS: the product is meant to
    #: be reached over HTTPS. Plain-HTTP development (scripts/run.sh) turns it off.
    secure_cookies: bool = True
    #: Every Redis key (and the Socket.IO channel) starts with this: several deployments or test
    #: runs can share one Redis.
    redis_prefix: str = "vb:"
    #: Seconds a Redis command may wait for its answer: a stalled Redis then fails the request
    #: with 503 instead of hanging it, and the connection is made anew.
    redis_timeout_seconds: float = 5.0
    #: rediss:// only: the CA that signed Redis's certificate (else the system's CAs), and the
    #: client certificate and key for a Redis with `tls-auth-clients yes`.
    redis_ca_file: Path | None = None
    redis_cert_file: Path | None = None
    redis_key_file: Path | None = None
    #: Reverse proxies (nginx) whose X-Forwarded-For is believed: behind one, every client would
    #: otherwise share its address, and one person's failed logins would lock everyone out.
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: Visits one client address may start in a minute: a whole office or a carrier's shared
    #: address stays far below it, a script filling the queue with made-up customers does not.
    visits_per_minute: int = 60
    #: Visits from one client address (one IPv6 /64) waiting in line at once: a family or an office
    #: behind one address rarely waits for more, one person filling the line with tokens does.
    open_visits_per_address: int = 3
    #: Sockets open at once on one visit token (a reload or a second tab; not hundreds).
    sockets_per_visit: int = 3
    #: Each socket's token bucket for `chat`: refills this many a second, holds `chat_burst`.
    chat_per_second: float = 2.0
    chat_burst: int = 20
    #: The same for `signal`: a call's start sends dozens of ICE candidates within a second.
    signals_per_second: float = 20.0
    signal_burst: int = 200
    #: The contact center's own time zone: where "today" starts for the queue's day counters, the
    #: supervisor's hourly charts and the day's reports.
    timezone: str = "UTC"
    #: The connection check's server peer sends STUN only to public addresses an offer names;
    #: `true` lets it reach loopback, private, CGNAT and link-local ones too (a test machine, or a
    #: branch whose customers are on the server's own network).
    echo_allow_private_peers: bool = False
    #: The only local addresses the connection check's peer binds and announces as host
    #: candidates (besides the relay candidates of the configured TURN server). Loopback by
    #: default: it reveals nothing and serves a browser on the same machine.
    echo_host_addresses: tuple[str, ...] = ("127.0.0.1",)
    #: Where the footer's "source code" link leads (AGPL-3.0 section 13). None: the server's own
    #: /source, an archive of the source it runs.
    source_url: str | None = None
    web_root: Path = field(default=PROJECT_ROOT)

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / UPLOADS_FOLDER

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:  # NaN fails this too
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {raw}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _url_list(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in env.get(name, "").split(",") if u.strip())
    for url in urls:
        if not url.startswith(tuple(f"{s}:" for s in schemes)):
            allowed = ", ".join(f"{s}:" for s in schemes)
            raise ConfigError(f"{name}: {url!r} must start with {allowed}")
    return urls


def _networks(
    env: Mapping[str, str], name: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in (i.strip() for i in env.get(name, "").split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name}: {item!r} is not an IP address or network (like 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def _host_addresses(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """IP addresses of this host, or `none` (relay candidates only); unset means loopback."""
    raw = env.get(name, "").strip()
    if not raw:
        return ("127.0.0.1",)
    if raw.lower() == "none":
        return ()
    addresses = []
    for item in (i.strip() for i in raw.split(",")):
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise ConfigError(
                f"{name}: {item!r} is not an IP address (list this host's addresses, or none)"
            ) from None
        if address.is_unspecified or address.is_multicast:
            raise ConfigError(f"{name}: {item!r} is not one address of this host")
        addresses.append(str(address))
    return tuple(addresses)


def _timezone(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "").strip() or "UTC"
    try:
        ZoneInfo(raw)
    # A folder of the zone database ("America") fails with an OSError, not a "not found".
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"{name} must be a time zone name like Asia/Riyadh, got {raw!r}"
        ) from None
    return raw


def normalize_database_url(name: str, raw: str) -> str:
    """Accept the common spellings and pick the async driver the product uses for each database."""
    scheme = urlsplit(raw).scheme
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        if not urlsplit(raw).hostname and "host=" not in raw:
            raise ConfigError(f"{name}: a PostgreSQL URL needs a host, got {raw!r}")
        return "postgresql+asyncpg://" + raw.split("://", 1)[1]
    if scheme in {"sqlite", "sqlite+aiosqlite"}:
        return "sqlite+aiosqlite://" + raw.split("://", 1)[1]
    raise ConfigError(f"{name} must be a postgresql:// or sqlite:// URL, got {raw!r}")


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    raw = env.get("VBRANCH_SECRET_KEY", "").strip()
    if raw:
        if len(raw) < _MIN_SECRET_LENGTH:
            raise ConfigError(
                f"VBRANCH_SECRET_KEY must be at least {_MIN_SECRET_LENGTH} characters"
            )
        return raw
    # Embedded default: one key per data folder, kept across restarts so sessions survive them.
    key_file = data_dir / "secret_key"
    if key_file.exists():
        private_file(key_file)
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(48)
    try:
        with open_private(key_file) as out:
            out.write(key)
    except FileExistsError:  # another process starting at the same moment wrote it first
        return key_file.read_text().strip()
    return key


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from `env` (default: the process environment); raise ConfigError on a bad one."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("VBRANCH_DATA_DIR", "").strip() or PROJECT_ROOT / "data").resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"VBRANCH_DATA_DIR: {data_dir} exists and is not a folder")
    try:
        # The folder holds the secret key, the SQLite database and customers' documents.
        private_folder(data_dir)
        private_folder(data_dir / UPLOADS_FOLDER)
    except OSError as exc:
        raise ConfigError(
            f"VBRANCH_DATA_DIR: cannot create {data_dir} or make it private: {exc.strerror}"
        ) from None

    raw_db = env.get("DATABASE_URL", "").strip() or f"sqlite:///{data_dir / 'vbranch.db'}"
    database_url = normalize_database_url("DATABASE_URL", raw_db)

    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url and urlsplit(redis_url).scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(
            f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redis_url!r}"
        )

    redis_files = _redis_tls_files(env, redis_url)

    listen = env.get("VBRANCH_LISTEN", "").strip() or "127.0.0.1:8080"
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"VBRANCH_LISTEN must be HOST:PORT with a port 1-65535, got {listen!r}")

    turn_urls = _url_list(env, "VBRANCH_TURN_URLS", ("turn", "turns"))
    turn_secret = env.get("VBRANCH_TURN_SECRET", "").strip() or None
    if turn_urls and not turn_secret:
        raise ConfigError("VBRANCH_TURN_SECRET is required when VBRANCH_TURN_URLS is set")

    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=_secret_key(env, data_dir),
        data_dir=data_dir,
        host=host.strip("[]"),
        port=int(port_text),
        stun_urls=_url_list(env, "VBRANCH_STUN_URLS", ("stun", "stuns")),
        turn_urls=turn_urls,
        turn_secret=turn_secret,
        turn_ttl_seconds=_int(env, "VBRANCH_TURN_TTL", 3600, 60, 86400),
        upload_max_bytes=_int(env, "VBRANCH_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, 1024, 1 << 30),
        uploads_per_call=_int(env, "VBRANCH_UPLOADS_PER_CALL", 20, 1, 10_000),
        upload_bytes_per_call=_int(
            env, "VBRANCH_UPLOAD_BYTES_PER_CALL", 50 * 1024 * 1024, 1024, 1 << 40
        ),
        min_free_disk_mb=_int(env, "VBRANCH_MIN_FREE_DISK_MB", 512, 0, 1 << 30),
        session_ttl_seconds=_int(env, "VBRANCH_SESSION_TTL", 12 * 3600, 300, 30 * 86400),
        secure_cookies=_bool(env, "VBRANCH_SECURE_COOKIES", True),
        redis_prefix=_redis_prefix(env),
        redis_timeout_seconds=_float(env, "VBRANCH_REDIS_TIMEOUT", 5.0, 0.1, 300.0),
        redis_ca_file=redis_files["VBRANCH_REDIS_CA_FILE"],
        redis_cert_file=redis_files["VBRANCH_REDIS_CERT_FILE"],
        redis_key_file=redis_files["VBRANCH_REDIS_KEY_FILE"],
        trusted_proxies=_networks(env, "VBRANCH_TRUSTED_PROXIES"),
        visits_per_minute=_int(env, "VBRANCH_VISITS_PER_MINUTE", 60, 1, 1_000_000),
        open_visits_per_address=_int(env, "VBRANCH_OPEN_VISITS_PER_ADDRESS", 3, 1, 1_000_000),
        sockets_per_visit=_int(env, "VBRANCH_SOCKETS_PER_VISIT", 3, 1, 100),
        chat_per_second=_float(env, "VBRANCH_CHAT_PER_SECOND", 2.0, 0.01, 1000.0),
        chat_burst=_int(env, "VBRANCH_CHAT_BURST", 20, 1, 10_000),
        signals_per_second=_float(env, "VBRANCH_SIGNALS_PER_SECOND", 20.0, 0.01, 10_000.0),
        signal_burst=_int(env, "VBRANCH_SIGNAL_BURST", 200, 1, 100_000),
        timezone=_timezone(env, "VBRANCH_TIMEZONE"),
        echo_allow_private_peers=_bool(env, "VBRANCH_ECHO_ALLOW_PRIVATE_PEERS", False),
        echo_host_addresses=_host_addresses(env, "VBRANCH_ECHO_HOST_ADDRESSES"),
        source_url=_source_url(env, "VBRANCH_SOURCE_URL"),
    )


def _source_url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc or any(c.isspace() for c in raw):
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


def _redis_prefix(env: Mapping[str, str]) -> str:
    prefix = env.get("VBRANCH_REDIS_PREFIX", "").strip() or "vb:"
    if len(prefix) > 64 or any(c.isspace() or c in "*?[]" for c in prefix):
        raise ConfigError(
            f"VBRANCH_REDIS_PREFIX must be up to 64 characters without spaces or *?[], got {prefix!r}"
        )
    return prefix


_REDIS_TLS_FILES = ("VBRANCH_REDIS_CA_FILE", "VBRANCH_REDIS_CERT_FILE", "VBRANCH_REDIS_KEY_FILE")


def _redis_tls_files(env: Mapping[str, str], redis_url: str | None) -> dict[str, Path | None]:
    files: dict[str, Path | None] = {}
    for name in _REDIS_TLS_FILES:
        raw = env.get(name, "").strip()
        path = Path(raw).expanduser().resolve() if raw else None
        if path is not None and not path.is_file():
            raise ConfigError(f"{name}: {path} is not a readable file")
        if path is not None and not (redis_url or "").startswith("rediss://"):
            raise ConfigError(f"{name} is for TLS: REDIS_URL must then be a rediss:// URL")
        files[name] = path
    if (files["VBRANCH_REDIS_CERT_FILE"] is None) != (files["VBRANCH_REDIS_KEY_FILE"] is None):
        raise ConfigError(
            "VBRANCH_REDIS_CERT_FILE and VBRANCH_REDIS_KEY_FILE go together: set both or neither"
        )
    return files
