"""Junk at the media ports of a live call, from a stranger's address: random bytes,
wrong payload types, huge datagrams. The call goes on, its key still works, the
service stays up."""

from __future__ import annotations

from pathlib import Path

from support.harness import wait_until
from support.media_junk import send_junk, service_udp_ports
from support.service import start_service
from support.sipp import finish_sipp, start_sipp


def test_junk_rtp_from_a_stranger_does_not_disturb_the_call(tmp_path: Path) -> None:
    service = start_service(tmp_path / "service")
    try:
        call = start_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "1901", workdir=tmp_path / "sipp"
        )
        wait_until(lambda: service.api("/api/calls")[1]["calls"], 10, "the live call")
        ports = wait_until(lambda: service_udp_ports(service), 10, "the call's media ports")
        sent = send_junk(ports, 4)  # through the menu prompt and the key
        assert sent > 1000

        result = finish_sipp(call, tmp_path / "sipp", 60)
        assert result.returncode == 0, result.errors
        [ticket] = service.tickets_of("1901", 1)
        assert ticket["disposition"] == "completed", ticket
        assert ticket["keys"] == "1", ticket  # the caller's key got through the junk
        assert "password_reset" in ticket["nodes"], ticket["nodes"]
        assert service.process.poll() is None
        assert service.api("/api/health")[1]["status"] == "ok"
    finally:
        assert service.stop() == 0
