"""Personal data: numbers masked in the log, one caller erased on request, retention sweeps."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from support.harness import REPO, wait_until
from support.service import RunningService, api_token_item, start_service
from support.sipp import run_sipp

from callback.requests import CallbackRequests

PLANS = REPO / "tests" / "plans"
CALLER = "13812345678"


def _leave_message(service: RunningService, caller: str, workdir: Path) -> dict[str, Any]:
    result = run_sipp("leave_message.xml", service.sip_uri_host, caller, workdir=workdir)
    assert result.returncode == 0, result.errors
    [ticket] = service.tickets_of(caller, 1)
    return service.api(f"/api/tickets/{ticket['id']}")[1]


def test_a_callers_data_is_erased_on_request_and_never_logged_in_clear(tmp_path: Path) -> None:
    operator = "tok-operator-privacy-01"
    service = start_service(
        tmp_path / "service",
        plans=PLANS / "message",
        config_text="log_level: DEBUG\n",
        env={"IVR_API_TOKENS": api_token_item("ops", "operator", operator)},
    )
    try:
        ticket = _leave_message(service, CALLER, tmp_path / "sipp")
        recording = Path(ticket["recording_path"])
        [message] = [Path(e["path"]) for e in ticket["events"] if e["kind"] == "message"]
        assert recording.is_file() and message.is_file()
        other = _leave_message(service, "2102", tmp_path / "sipp2")

        refused = service.api(f"/api/callers/{CALLER}", method="DELETE", token=operator)
        assert refused[0] == 403, "erasure is for admins only"
        status, erased = service.api(f"/api/callers/{CALLER}", method="DELETE")

        assert status == 200, erased
        assert (erased["tickets"], erased["files_deleted"]) == (1, 2)
        assert CALLER not in str(erased)
        assert not recording.exists() and not message.exists()
        after = service.api(f"/api/tickets/{ticket['id']}")[1]
        assert CALLER not in str(after)
        assert after["caller_number"] == "" and after["recording_path"] is None
        assert service.api(f"/api/tickets/{ticket['id']}/recording")[0] == 404
        assert service.api(f"/api/tickets?caller={CALLER}")[1]["tickets"] == []
        assert Path(other["recording_path"]).is_file(), "another caller's files stay"
        assert service.api(f"/api/callers/{CALLER}", method="DELETE")[1]["tickets"] == 0
        assert service.api("/api/callers/%20", method="DELETE")[0] == 400
        audit = service.api("/api/audit?action=caller.erase")[1]["entries"]
        assert [(a["actor"], a["outcome"]) for a in reversed(audit)] == [
            ("ops", "refused"),
            ("test-admin", "ok"),
            ("test-admin", "ok"),
            ("test-admin", "failed"),
        ], audit
        assert CALLER not in str(audit) and "*********78" in str(audit)
        log = service.log_text()
        assert CALLER not in log
        assert "*********78" in log, "the call was logged, its number masked"
    finally:
        assert service.stop() == 0


def test_recordings_and_transcripts_past_their_retention_are_swept(tmp_path: Path) -> None:
    seconds = 2.0
    service = start_service(
        tmp_path / "service",
        plans=PLANS / "message",
        config_text=(
            "privacy:\n"
            f"  recordings_retention_days: {seconds / 86400}\n"
            f"  transcripts_retention_days: {seconds / 86400}\n"
            "  sweep_interval_seconds: 0.5\n"
        ),
    )
    try:
        result = run_sipp(
            "leave_message.xml", service.sip_uri_host, "2103", workdir=tmp_path / "sipp"
        )
        assert result.returncode == 0, result.errors
        [ticket] = service.tickets_of("2103", 1)
        recordings = service.workdir / "recordings"

        def swept() -> dict[str, Any] | None:
            body: dict[str, Any] = service.api(f"/api/tickets/{ticket['id']}")[1]
            gone = body["recording_path"] is None and not list(recordings.rglob("*.wav"))
            return body if gone else None

        kept = wait_until(swept, 30, "the recording and message to pass their retention")
        assert time.time() - ticket_started(ticket) >= seconds
        [message] = [e for e in kept["events"] if e["kind"] == "message"]
        assert message["path"].endswith(f"{ticket['id']}-message-1.wav") and message["seconds"] > 0
        assert kept["caller_number"] == "2103", "retention drops files and words, not the ticket"
        assert "retention sweep" in service.log_text()
    finally:
        assert service.stop() == 0


def ticket_started(ticket: dict[str, Any]) -> float:
    return datetime.fromisoformat(ticket["started_at"]).timestamp()


async def test_erasing_a_number_cancels_its_callback_and_forgets_closed_ones(
    shared_redis_url: str,
) -> None:
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    prefix = f"ivrtest:privacy:{time.time_ns()}:"
    requests = CallbackRequests(client, prefix)
    try:
        first = await requests.request(CALLER, "helpdesk", time.time())
        await requests.cancel(first, "caller called again")
        pending = await requests.request(CALLER, "helpdesk", time.time())
        other = await requests.request("2104", "helpdesk", time.time())
        await requests.cancel(other, "done with")

        assert await requests.forget_number(CALLER, "caller's data erased") == 2
        assert await requests.get(first) is None and await requests.get(pending) is None
        assert await requests.pending_for(CALLER) is None
        assert await requests.get(other) is not None
        assert await requests.forget_closed(time.time() + 1) == 1
        assert await requests.get(other) is None
    finally:
        for key in await client.keys(prefix + "*"):
            await client.delete(key)
        await client.aclose()
