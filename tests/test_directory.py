"""The employee directory: callers matched by number or by the ID they key in."""

from __future__ import annotations

from pathlib import Path

from support.harness import REPO
from support.service import run_ivr, start_service
from support.sipp import run_sipp

from ivr.directory import EmployeeDirectory, normalise_number

PLANS = REPO / "tests" / "plans"
HEADER = "number,employee_id,name,department,vip\n"


def test_numbers_match_however_they_are_written(tmp_path: Path) -> None:
    csv = tmp_path / "directory.csv"
    csv.write_text(HEADER + "+86 10-5555 0101;1001,100101,Li Wei,Finance,yes\n")
    directory = EmployeeDirectory(csv)
    for number in ("+861055550101", "+86 (10) 5555-0101", "1001"):
        employee = directory.by_number(number)
        assert employee is not None and employee.name == "Li Wei" and employee.vip
    assert directory.by_number("+861055550102") is None
    assert directory.by_employee_id(" 100101 ") is not None
    assert normalise_number("+1 (415) 555-0104") == "+14155550104"


def test_a_changed_file_is_read_again_and_a_broken_one_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "directory.csv"
    csv.write_text(HEADER + "1001,100101,Li Wei,Finance,no\n")
    directory = EmployeeDirectory(csv)
    assert directory.by_number("1001") is not None
    csv.write_text(HEADER + "1001,100101,Li Wei,Finance,no\n1002,100102,Zhang Min,IT,no\n")
    assert directory.by_number("1002") is not None
    csv.write_text("phone,who\n1003,someone\n")  # an export gone wrong
    assert directory.by_number("1002") is not None
    csv.unlink()
    assert directory.by_number("1001") is None


def test_identify_cases_pass() -> None:
    result = run_ivr(
        "dialplan",
        "test",
        str(PLANS / "identify" / "default.yaml"),
        str(PLANS / "identify.cases.yaml"),
        "--directory",
        str(REPO / "dialplans" / "directory.csv"),
    )
    assert result.returncode == 0, result.stdout
    assert "3 passed, 0 failed" in result.stdout


def test_a_known_caller_is_on_the_ticket_by_name(tmp_path: Path) -> None:
    service = start_service(
        tmp_path / "service",
        env={"IVR_DIRECTORY_CSV": str(REPO / "dialplans" / "directory.csv")},
    )
    try:
        result = run_sipp(
            "hangup_during_prompt.xml", service.sip_uri_host, "1002", workdir=tmp_path / "known"
        )
        assert result.returncode == 0, result.errors
        assert (
            run_sipp(
                "hangup_during_prompt.xml",
                service.sip_uri_host,
                "5550000",
                workdir=tmp_path / "unknown",
            ).returncode
            == 0
        )
        [known] = service.tickets_of("1002", 1)
        assert known["variables"] == {
            "employee_id": "100102",
            "employee_name": "Zhang Min",
            "department": "Engineering",
            "vip": "no",
        }
        [unknown] = service.tickets_of("5550000", 1)
        assert unknown["variables"] == {}
        assert unknown["caller_number"] == "5550000"
    finally:
        assert service.stop() == 0
