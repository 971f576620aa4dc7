"""Case files are read like plans: a typo at any level is an error at file:line:col."""

from __future__ import annotations

from pathlib import Path

from support.harness import REPO
from support.service import run_ivr

PLAN = REPO / "dialplans" / "default.yaml"
DIRECTORY = str(REPO / "dialplans" / "directory.csv")

# Every level of a case file, each with one slip a person makes.
TYPOS = """\
cases:
  - name: password reset by key
    input: ["1"]
    expekt:
      path: [welcome, main_menu, password_reset, goodbye]
  - name: software by key
    input: ["2"]
    expect:
      pth: [welcome, main_menu, software, goodbye]
      outcome: completed
  - name: a bad input and a bad wait
    imput: ["2"]
    input: ["2", "twelve"]
    queue_wait: {helpdesk: soon}
    agents: maybe
    time: "2026-11-24T10:00:00"
    expect: {satisfaction: five, path: welcome}
case_list: []
"""


def test_a_typo_at_any_level_of_a_case_file_is_an_error_at_its_position(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(TYPOS)
    result = run_ivr("dialplan", "test", str(PLAN), str(cases), "--directory", DIRECTORY)
    assert result.returncode == 1, result.stdout
    assert "PASS" not in result.stdout, "no case runs from a file with errors"
    case_keys = "agents, caller, expect, input, name, queue_wait, time, values"
    expect_keys = "heard, intents, keys, outcome, path, satisfaction, transfers, variables"
    assert result.stderr.splitlines() == [
        f"{cases}:4:5: unknown key 'expekt' in case (known: {case_keys})",
        f"{cases}:9:7: unknown key 'pth' in expect (known: {expect_keys})",
        f"{cases}:12:5: unknown key 'imput' in case (known: {case_keys})",
        f"{cases}:13:18: input 'twelve' is not keys (0-9 * #), 'say <words>', '-' or 'hangup'",
        f"{cases}:14:28: queue_wait: helpdesk: 'soon' is not a number of seconds",
        f"{cases}:15:13: agents: 'maybe' is not one of answer, none, refer",
        f"{cases}:16:11: time '2026-11-24T10:00:00' needs a UTC offset, e.g. +08:00",
        f"{cases}:17:28: expect.satisfaction must be a score from 1 to 5 (or null)",
        f"{cases}:17:40: expect.path must be a list of node names",
        f"{cases}:18:1: unknown key 'case_list' in cases file (known: cases)",
    ]


def test_a_clean_case_file_runs_and_a_wrong_expectation_fails(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: password reset by key\n"
        "    input: [1]\n"
        "    expect: {path: [welcome, main_menu, password_reset, goodbye], keys: 1}\n"
        "  - name: software, expected wrongly\n"
        "    input: ['2']\n"
        "    expect: {outcome: abandoned}\n"
    )
    result = run_ivr("dialplan", "test", str(PLAN), str(cases), "--directory", DIRECTORY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "PASS password reset by key" in result.stdout
    assert "FAIL software, expected wrongly" in result.stdout
    assert "outcome: expected 'abandoned', got 'completed'" in result.stdout
    assert "1 passed, 1 failed" in result.stdout
