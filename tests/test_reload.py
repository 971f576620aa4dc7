"""Plans change under live calls: calls keep their version, broken versions are refused."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from support.harness import REPO, wait_until
from support.service import start_service
from support.sipp import finish_sipp, run_sipp, start_sipp


def version_in_service(service, name: str = "default") -> str:  # type: ignore[no-untyped-def]
    plans = service.api("/api/dialplans")[1]["plans"]
    return str(next(p["version"] for p in plans if p["name"] == name))


def test_live_call_finishes_on_its_version_new_calls_get_the_new_one_and_broken_is_refused(
    tmp_path: Path,
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    plan_file = plans / "default.yaml"
    shutil.copy(REPO / "dialplans" / "default.yaml", plan_file)
    service = start_service(tmp_path / "service", plans=plans, env={"IVR_DIALPLAN_WATCH": "0"})
    try:
        v1 = version_in_service(service)
        on_v1 = start_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "1101", workdir=tmp_path / "call1"
        )
        wait_until(lambda: service.api("/api/calls")[1]["calls"], 10, "the first call")

        plan_file.write_text(
            plan_file.read_text().replace("Welcome to the IT help desk.", "Welcome to IT support.")
        )
        status, report = service.api("/api/dialplans/reload", method="POST")
        assert status == 200, report
        v2 = version_in_service(service)
        assert v2 != v1 and report["loaded"] == [f"default {v2}"]

        assert (
            run_sipp(
                "menu_key1_rfc2833.xml", service.sip_uri_host, "1102", workdir=tmp_path / "call2"
            ).returncode
            == 0
        )
        assert finish_sipp(on_v1, tmp_path / "call1", 60).returncode == 0
        [first] = service.tickets_of("1101", 1)
        [second] = service.tickets_of("1102", 1)
        assert first["plan"]["version"] == v1
        assert second["plan"]["version"] == v2

        plan_file.write_text(plan_file.read_text().replace('"1": password_reset', '"1": nowhere'))
        status, report = service.api("/api/dialplans/reload", method="POST")
        assert status == 422
        [problem] = report["refused"][str(plan_file)]
        assert problem.startswith(f"{plan_file}:")
        assert "goes to unknown node 'nowhere'" in problem
        assert version_in_service(service) == v2
        assert service.api("/api/dialplans")[1]["errors"][str(plan_file)] == [problem]

        assert (
            run_sipp(
                "menu_key1_rfc2833.xml", service.sip_uri_host, "1103", workdir=tmp_path / "call3"
            ).returncode
            == 0
        )
        [third] = service.tickets_of("1103", 1)
        assert third["plan"]["version"] == v2
        assert third["disposition"] == "completed"
    finally:
        assert service.stop() == 0


def edited_copy_of_default(tmp_path: Path) -> tuple[Path, Path]:
    plans = tmp_path / "plans"
    plans.mkdir()
    plan_file = plans / "default.yaml"
    shutil.copy(REPO / "dialplans" / "default.yaml", plan_file)
    return plans, plan_file


def test_sighup_reloads_plans(tmp_path: Path) -> None:
    plans, plan_file = edited_copy_of_default(tmp_path)
    service = start_service(tmp_path / "service", plans=plans, env={"IVR_DIALPLAN_WATCH": "0"})
    try:
        before = version_in_service(service)
        plan_file.write_text(plan_file.read_text().replace("Goodbye.", "Bye for now."))
        service.process.send_signal(signal.SIGHUP)
        wait_until(lambda: version_in_service(service) != before, 20, "the SIGHUP reload")
        assert "plans reloaded (SIGHUP): 1 loaded, 0 refused" in service.log_text()
    finally:
        assert service.stop() == 0


def test_a_changed_plan_file_is_picked_up_without_a_signal(tmp_path: Path) -> None:
    plans, plan_file = edited_copy_of_default(tmp_path)
    service = start_service(tmp_path / "service", plans=plans)
    try:
        before = version_in_service(service)
        plan_file.write_text(plan_file.read_text().replace("Goodbye.", "Bye for now."))
        wait_until(lambda: version_in_service(service) != before, 20, "the file watcher")
    finally:
        assert service.stop() == 0


def test_plan_is_chosen_by_called_number_and_caller_pattern(tmp_path: Path) -> None:
    plans, _ = edited_copy_of_default(tmp_path)
    (plans / "vip.yaml").write_text(
        "plan: vip\n"
        "match:\n  called: ['200']\n  caller: ['^12']\n"
        "start: hello\n"
        "nodes:\n  hello:\n    type: hangup\n    say: Hello, valued colleague.\n"
    )
    service = start_service(tmp_path / "service", plans=plans)
    try:
        for caller, called in (("1201", "200"), ("1301", "200"), ("1202", "100")):
            scenario = "hangup_during_prompt.xml"
            result = run_sipp(
                scenario,
                service.sip_uri_host,
                caller,
                service_number=called,
                workdir=tmp_path / f"{caller}-{called}",
            )
            assert caller == "1201" or result.returncode == 0, result.errors
        plan_of = {c: service.tickets_of(c, 1)[0]["plan"]["name"] for c in ("1201", "1301", "1202")}
        assert plan_of == {"1201": "vip", "1301": "default", "1202": "default"}
    finally:
        assert service.stop() == 0


def test_rollback_returns_to_the_previous_version_and_rewrites_the_file(tmp_path: Path) -> None:
    plans, plan_file = edited_copy_of_default(tmp_path)
    original = plan_file.read_text()
    service = start_service(tmp_path / "service", plans=plans, env={"IVR_DIALPLAN_WATCH": "0"})
    try:
        v1 = version_in_service(service)
        plan_file.write_text(original.replace("Goodbye.", "Bye for now."))
        assert service.api("/api/dialplans/reload", method="POST")[0] == 200
        v2 = version_in_service(service)

        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ivr",
                "dialplan",
                "rollback",
                "default",
                "--url",
                f"http://127.0.0.1:{service.http_port}",
            ],
            env={**os.environ, "IVR_API_TOKEN": service.token},
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert f"version {v1} in service" in result.stdout
        assert version_in_service(service) == v1
        assert plan_file.read_text() == original
        [listed] = service.api("/api/dialplans")[1]["plans"]
        assert listed["history"] == [v1]
        assert v2 != v1

        status, body = service.api("/api/dialplans/default/rollback", method="POST")
        assert status == 409 and "no earlier version" in body["error"]
        assert (
            run_sipp(
                "menu_key1_rfc2833.xml", service.sip_uri_host, "1601", workdir=tmp_path / "call"
            ).returncode
            == 0
        )
        assert service.tickets_of("1601", 1)[0]["plan"]["version"] == v1
    finally:
        assert service.stop() == 0


CANARY_CALLS = 200


def test_a_canary_takes_its_share_of_calls_until_promoted(tmp_path: Path) -> None:
    plans, plan_file = edited_copy_of_default(tmp_path)
    service = start_service(
        tmp_path / "service",
        plans=plans,
        env={"IVR_DIALPLAN_WATCH": "0", "IVR_DIALPLAN_CANARY_PERCENT": "30"},
    )
    try:
        stable = version_in_service(service)
        plan_file.write_text(plan_file.read_text().replace("Goodbye.", "Bye for now."))
        assert service.api("/api/dialplans/reload", method="POST")[0] == 200
        [listed] = service.api("/api/dialplans")[1]["plans"]
        canary = listed["canary"]["version"]
        assert listed["version"] == stable and listed["canary"]["percent"] == 30

        result = run_sipp(
            "hangup_during_prompt.xml",
            service.sip_uri_host,
            "1701",
            calls=CANARY_CALLS,
            rate=15,
            workdir=tmp_path / "calls",
        )
        assert result.returncode == 0, result.errors[-2000:]
        versions = [t["plan"]["version"] for t in service.tickets_of("1701", CANARY_CALLS)]
        on_canary = versions.count(canary)
        assert versions.count(stable) + on_canary == CANARY_CALLS
        # 30% of 200 is 60; 30..90 is beyond 4.5 standard deviations either way.
        assert 30 <= on_canary <= 90, on_canary

        status, body = service.api("/api/dialplans/default/promote", method="POST")
        assert status == 200 and body["version"] == canary
        assert version_in_service(service) == canary
        assert service.api("/api/dialplans")[1]["plans"][0]["canary"] is None
    finally:
        assert service.stop() == 0
