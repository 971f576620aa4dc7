"""Registering to a PBX (Kamailio, digest auth) and taking calls through it."""

from __future__ import annotations

from pathlib import Path

from peers.kamailio import PASSWORD, Kamailio
from support.harness import wait_until
from support.service import start_service
from support.sipp import run_sipp


def account_config(pbx: Kamailio, user: str, password: str) -> str:
    return (
        "sip:\n  accounts:\n"
        f"    - {{user: '{user}', domain: '{pbx.address}', password: '{password}'}}\n"
    )


def registration(service) -> dict:  # type: ignore[no-untyped-def]
    return service.api("/api/health")[1]["registrations"][0]


def test_service_registers_with_digest_auth_and_answers_calls_via_the_pbx(
    pbx: Kamailio, tmp_path: Path
) -> None:
    service = start_service(tmp_path / "service", config_text=account_config(pbx, "7000", PASSWORD))
    try:
        wait_until(lambda: registration(service)["registered"], 15, "registration")
        assert service.api("/api/health")[1]["status"] == "ok"

        result = run_sipp(
            "menu_key1_rfc2833.xml",
            pbx.address,
            "8001",
            service_number="7000",
            workdir=tmp_path / "sipp",
        )
        assert result.returncode == 0, result.errors
        [ticket] = service.tickets_of("8001", 1)
        assert ticket["called_number"] == "7000"
        assert ticket["disposition"] == "completed"
    finally:
        assert service.stop() == 0
    assert PASSWORD not in service.log_text()


def test_wrong_password_shows_as_a_failed_registration_in_health(
    pbx: Kamailio, tmp_path: Path
) -> None:
    service = start_service(
        tmp_path / "service", config_text=account_config(pbx, "7001", "wrong-password")
    )
    try:
        failed = wait_until(
            lambda: (r := registration(service))["detail"] not in ("", "registering") and r,
            20,
            "the registration to fail",
        )
        assert failed["registered"] is False
        assert "401" in failed["detail"] or "403" in failed["detail"]
        assert service.api("/api/health")[1]["status"] == "degraded"
    finally:
        service.stop()
