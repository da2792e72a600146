"""Rate limits count per client: through trusted reverse proxies by X-Forwarded-For, never by a
header anybody else wrote; and a client may start only so many visits a minute."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from vbranch_server.app import create_app
from vbranch_server.auth.ratelimit import SWEEP_EVERY, LocalCounts, Rule
from vbranch_server.settings import ConfigError, Settings, load_settings
from vbranch_server.web.client_address import client_address

from .test_auth import from_address

NGINX = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        # No proxy trusted: the header is anybody's, the peer is the client.
        ("203.0.113.9", ["198.51.100.1"], [], "203.0.113.9"),
        ("10.1.2.3", ["198.51.100.1"], [], "10.1.2.3"),
        # Through nginx: the address nginx saw.
        ("10.1.2.3", ["198.51.100.1"], NGINX, "198.51.100.1"),
        # The client wrote its own X-Forwarded-For; nginx appended the real one: that one counts.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1"], NGINX, "198.51.100.1"),
        ("10.1.2.3", ["6.6.6.6", "198.51.100.1"], NGINX, "198.51.100.1"),
        # Two trusted hops (a load balancer, then nginx).
        ("127.0.0.1", ["198.51.100.1, 10.9.9.9"], NGINX, "198.51.100.1"),
        # A client that is not a proxy cannot pretend to be one.
        ("203.0.113.9", ["198.51.100.1"], NGINX, "203.0.113.9"),
        # Only trusted addresses: the farthest of them.
        ("10.1.2.3", ["10.7.7.7"], NGINX, "10.7.7.7"),
        # No header at all behind a trusted proxy: the proxy.
        ("10.1.2.3", [], NGINX, "10.1.2.3"),
        # Garbage stops the walk at the last address trusted to report it.
        ("10.1.2.3", ["198.51.100.1, not-an-address"], NGINX, "10.1.2.3"),
        ("10.1.2.3", ["not-an-address, 198.51.100.1"], NGINX, "198.51.100.1"),
        # IPv6, and a v4 network never matches a v6 address.
        ("::1", ["2001:db8::7"], [ipaddress.ip_network("::1")], "2001:db8::7"),
        ("::1", ["2001:db8::7"], NGINX, "::1"),
        # Only the proxies themselves are trusted: a client on a private network that is not
        # listed cannot have its own header believed (Compose lists nginx's one address).
        ("10.1.2.3", ["6.6.6.6, 192.168.1.50"], NGINX, "192.168.1.50"),
        # A server listening on [::] sees IPv4 peers as IPv4-mapped IPv6 addresses.
        ("::ffff:10.1.2.3", ["198.51.100.1"], NGINX, "198.51.100.1"),
        # Unix sockets and the like have no peer address.
        (None, ["198.51.100.1"], NGINX, "unknown"),
    ],
)
def test_the_client_is_the_first_address_no_trusted_proxy_vouches_for(
    peer: str | None, forwarded: list[str], trusted: list, client: str
) -> None:
    assert client_address(peer, forwarded, trusted) == client


def test_trusted_proxies_are_read_from_the_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"VBRANCH_DATA_DIR": str(tmp_path), "VBRANCH_TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ,"}
    assert load_settings(env).trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1"),
    )
    assert load_settings({"VBRANCH_DATA_DIR": str(tmp_path)}).trusted_proxies == ()
    with pytest.raises(ConfigError, match="VBRANCH_TRUSTED_PROXIES: 'nginx'"):
        load_settings({**env, "VBRANCH_TRUSTED_PROXIES": "nginx"})
    with pytest.raises(ConfigError, match="VBRANCH_VISITS_PER_MINUTE"):
        load_settings({**env, "VBRANCH_VISITS_PER_MINUTE": "0"})


async def _login(client: TestClient, forwarded_for: str, password: str) -> int:
    response = await client.post(
        "/api/login",
        json={"username": "agent.ar", "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status


@pytest.fixture
def behind_nginx(settings: Settings) -> Settings:
    return replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))


async def test_behind_a_trusted_proxy_one_clients_failures_do_not_lock_out_another(
    aiohttp_client, behind_nginx: Settings, clock, demo_data
) -> None:
    client = await aiohttp_client(create_app(behind_nginx, clock=clock))
    for _ in range(5):
        assert await _login(client, "198.51.100.1", "x") == 401
    assert await _login(client, "198.51.100.1", "demo-agent-pass") == 429
    # Before, every client behind nginx shared its address: this login was refused too.
    assert await _login(client, "198.51.100.2", "demo-agent-pass") == 200


async def test_without_a_trusted_proxy_a_forged_header_changes_nothing(
    aiohttp_client, settings: Settings, clock, demo_data
) -> None:
    client = await aiohttp_client(create_app(settings, clock=clock))
    for n in range(5):
        assert await _login(client, f"198.51.100.{n}", "x") == 401
    assert await _login(client, "198.51.100.99", "demo-agent-pass") == 429


async def test_a_client_may_start_only_so_many_visits_a_minute(
    aiohttp_client, settings: Settings, clock, demo_data
) -> None:
    client = await aiohttp_client(create_app(replace(settings, visits_per_minute=3), clock=clock))
    for _ in range(3):
        response = await client.post("/api/visits", json={"language": "en"})
        assert response.status == 201
    refused = await client.post("/api/visits", json={"language": "en"})
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "too_many_attempts"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    # Another address is not held back.
    async with from_address("127.0.0.2") as other:
        async with other.post(client.make_url("/api/visits"), json={"language": "ar"}) as response:
            assert response.status == 201


def test_a_limiter_forgets_clients_it_no_longer_needs() -> None:
    """Every customer's address is a key of the visit limiter; keys whose attempts have all aged
    out are swept, or the process would keep one per address it ever saw."""
    counts, rule = LocalCounts(), Rule(most=60, window=60)
    for n in range(SWEEP_EVERY - 1):
        assert counts.reserve({f"visits:{n}": rule}, f"m{n}", 0.0) == 0
    assert len(counts) == SWEEP_EVERY - 1
    # The sweep: only the newest is still held.
    assert counts.reserve({"visits:late": rule}, "late", 61.0) == 0
    assert len(counts) == 1
