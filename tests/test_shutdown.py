"""SIGTERM: new calls are refused, live calls finish, every ticket is written."""

from __future__ import annotations

import socket
from pathlib import Path

from support.harness import wait_until
from support.service import start_service
from support.sip_messages import final_response, invite
from support.sipp import finish_sipp, start_sipp


def refused_status(service) -> str:  # type: ignore[no-untyped-def]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(invite(service, sock.getsockname()[1]), ("127.0.0.1", service.sip_port))
        return final_response(sock)


def test_sigterm_refuses_new_calls_and_lets_the_live_call_finish(tmp_path: Path) -> None:
    service = start_service(tmp_path / "service", env={"IVR_SHUTDOWN_GRACE": "30"})
    live_call = start_sipp(
        "menu_key1_rfc2833.xml", service.sip_uri_host, "6001", workdir=tmp_path / "sipp"
    )
    wait_until(lambda: service.api("/api/calls")[1]["calls"], 10, "the call to be live")

    service.process.terminate()
    wait_until(lambda: "refusing new calls" in service.log_text(), 10, "shutdown to begin")
    assert refused_status(service).startswith("SIP/2.0 486")

    result = finish_sipp(live_call, tmp_path / "sipp", 60)
    assert result.returncode == 0, result.errors
    assert service.stop() == 0
    with_db = start_service(tmp_path / "service")  # same database: read the tickets back
    try:
        [ticket] = with_db.tickets_of("6001", 1)
        assert ticket["disposition"] == "completed"
        assert ticket["nodes"] == ["welcome", "main_menu", "password_reset", "goodbye"]
    finally:
        with_db.stop()


def test_calls_still_up_after_the_grace_period_are_ended_and_ticketed_failed(
    tmp_path: Path,
) -> None:
    service = start_service(tmp_path / "service", env={"IVR_SHUTDOWN_GRACE": "1"})
    live_call = start_sipp(
        "menu_key1_rfc2833.xml", service.sip_uri_host, "6002", workdir=tmp_path / "sipp"
    )
    wait_until(lambda: service.api("/api/calls")[1]["calls"], 10, "the call to be live")

    assert service.stop() == 0
    live_call.terminate()  # it got a BYE mid-scenario; its own timers would wait 30 s
    live_call.wait(10)
    again = start_service(tmp_path / "service")
    try:
        [ticket] = again.tickets_of("6002", 1)
        assert ticket["disposition"] == "failed"
        assert ticket["end_reason"] == "service stopped before the call ended"
        assert ticket["ended_at"] is not None
    finally:
        again.stop()
