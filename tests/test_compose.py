"""docker-compose.yml cannot run here (no Docker engine), so its structure is checked instead."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_is_consistent() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"app1", "app2", "nginx", "postgres", "redis", "coturn"} <= set(services)
    declared_volumes = set(compose.get("volumes", {}))
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), f"{name} depends on an unknown service"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith(".") or source in declared_volumes, f"{name}: {volume}"
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts a missing file {source}"
    for app in ("app1", "app2"):
        env = services[app]["environment"]
        # Several processes only work together with Redis and PostgreSQL.
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["DATABASE_URL"].startswith("postgresql://")
    assert (ROOT / "Dockerfile").exists()


def test_only_nginx_is_believed_when_it_names_the_client() -> None:
    """Rate limits count per client: the apps believe X-Forwarded-For from nginx's one fixed
    address only, and nginx writes that header itself instead of passing on the client's."""
    import ipaddress

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    nginx = services["nginx"]["networks"]["default"]["ipv4_address"]
    [subnet] = [c["subnet"] for c in compose["networks"]["default"]["ipam"]["config"]]
    assert ipaddress.ip_address(nginx) in ipaddress.ip_network(subnet)
    for app in ("app1", "app2"):
        assert services[app]["environment"]["VBRANCH_TRUSTED_PROXIES"] == nginx
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert "$proxy_add_x_forwarded_for" not in conf
