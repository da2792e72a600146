"""Supervisor actions over the /supervisor namespace land in the audit log with who and when."""

from __future__ import annotations

from typing import Any

import aiohttp

from vbranch_server.realtime.wiring import HUB

from .conftest import Peer, staff_cookie

JOIN = {"category": "pensions", "language": "ar", "sign_language": True}


async def _audit(server, cookie: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession(cookies={"vb_session": cookie}) as http:
        async with http.get(server.make_url("/api/supervisor/audit")) as response:
            assert response.status == 200
            return (await response.json())["actions"]


async def test_every_supervisor_action_is_audited(  # type: ignore[no-untyped-def]
    server, connect_agent, connect_customer, clock
) -> None:
    cookie = await staff_cookie(server, "supervisor")
    supervisor = Peer("/supervisor")
    await supervisor.connect(str(server.make_url("/")), headers={"Cookie": f"vb_session={cookie}"})
    try:
        stats = await supervisor.next("stats")
        assert {"now", "queues", "agents", "calls", "waiting"} <= set(stats)
        customer = await connect_customer()
        await customer.call("join", {**JOIN, "display_name": "Huda"})
        agent = await connect_agent("agent.ar")
        agent_id = str((await server.app[HUB].supervisor_stats())["agents"][0]["agent_id"])

        assert await supervisor.call(
            "set_priority", {"customer_id": customer.visit_id, "priority": 4}
        ) == {"ok": True}
        bad_move = await supervisor.call(
            "move", {"customer_id": customer.visit_id, "category": "no_such", "language": "ar"}
        )
        assert bad_move["error"]["code"] == "invalid_payload"
        assert await supervisor.call(
            "move", {"customer_id": customer.visit_id, "category": "medical", "language": "ar"}
        ) == {"ok": True}
        refused = await supervisor.call(
            "offer_to", {"customer_id": customer.visit_id, "agent_id": agent_id}
        )
        assert refused["error"]["code"] == "agent_busy"  # offline: refused, so not audited
        assert (
            await supervisor.call("set_agent_state", {"agent_id": agent_id, "state": "available"})
        )["ok"]
        # Available with the skills: moved out of sign language, the customer is offered at once.
        await agent.next("offer")
        clock.advance(seconds=5)
        await supervisor.call("set_agent_state", {"agent_id": agent_id, "state": "away"})
        await agent.next("offer_withdrawn")
        assert (
            await supervisor.call(
                "offer_to", {"customer_id": customer.visit_id, "agent_id": agent_id}
            )
        )["error"]["code"] == "agent_busy"

        stats = await server.app[HUB].supervisor_stats()
        [waiting] = stats["waiting"]
        assert (waiting["display_name"], waiting["category"], waiting["priority"]) == (
            "Huda",
            "medical",
            4,
        )
        [queue] = [q for q in stats["queues"] if q["category"] == "medical"]
        assert (queue["service_level_target"], queue["service_level_seconds"]) == (0.8, 20.0)
        assert stats["agents"][0]["display_name"] == "Ahmad (Arabic, English)"

        actions = await _audit(server, cookie)
        assert [(a["action"], a["target"], a["details"]) for a in actions] == [
            ("set_agent_state", agent_id, {"state": "away"}),
            ("set_agent_state", agent_id, {"state": "available"}),
            (
                "move",
                customer.visit_id,
                {"category": "medical", "language": "ar", "sign_language": False},
            ),
            ("set_priority", customer.visit_id, {"priority": 4}),
        ]
        assert {a["staff_name"] for a in actions} == {"Samira (supervisor)"}
        assert actions[0]["at"] == clock().isoformat()
    finally:
        await supervisor.close()
