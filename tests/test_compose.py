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
