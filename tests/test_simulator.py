"""The plan simulator and the scripted case runner, as operations staff run them."""

from __future__ import annotations

from pathlib import Path

from support.harness import REPO
from support.service import run_ivr

PLAN = REPO / "dialplans" / "default.yaml"


ivr = run_ivr


def test_shipped_cases_pass() -> None:
    result = ivr("dialplan", "test", str(PLAN), str(REPO / "dialplans" / "cases" / "default.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed, 0 failed" in result.stdout


def test_a_failing_case_is_reported_with_expected_and_actual(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: wrong expectation\n"
        "    input: ['2']\n"
        "    expect: {path: [welcome, main_menu, password_reset, goodbye], outcome: completed}\n"
    )
    result = ivr("dialplan", "test", str(PLAN), str(cases))
    assert result.returncode == 1
    assert "FAIL wrong expectation" in result.stdout
    assert (
        "path: expected ['welcome', 'main_menu', 'password_reset', 'goodbye'], "
        "got ['welcome', 'main_menu', 'software', 'goodbye']"
    ) in result.stdout
    assert "0 passed, 1 failed" in result.stdout


def test_a_case_with_a_bad_input_is_refused_at_its_position(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - name: bad input\n    input: ['x']\n")
    result = ivr("dialplan", "test", str(PLAN), str(cases))
    assert result.returncode == 1
    assert f"{cases}:3:13: input 'x' is not keys" in result.stderr


def test_simulate_prints_prompts_and_the_path_for_typed_keys() -> None:
    result = ivr("dialplan", "simulate", str(PLAN), stdin="7\n\n1\n")
    assert result.returncode == 0, result.stderr
    lines = [line.removeprefix("keys> ") for line in result.stdout.splitlines()]
    assert "IVR: Welcome to the IT help desk." in lines
    assert "IVR: Sorry, that is not one of the choices." in lines
    assert "IVR: Sorry, I did not hear a choice." in lines
    assert "path: welcome -> main_menu -> password_reset -> goodbye" in lines
    assert "keys: 71; outcome: completed" in lines


def test_simulate_refuses_a_broken_plan_with_its_problems(tmp_path: Path) -> None:
    broken = tmp_path / "plan.yaml"
    broken.write_text("plan: p\nstart: a\nnodes:\n  a: {type: prompt, next: b}\n")
    result = ivr("dialplan", "simulate", str(broken))
    assert result.returncode == 1
    assert f"{broken}:4:27: node 'a' goes to unknown node 'b'" in result.stderr


def test_a_callback_node_takes_its_accept_key_for_the_offer_and_the_confirmation(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "plan: callback-key\n"
        "start: offer\n"
        "nodes:\n"
        "  offer:\n"
        "    type: callback\n"
        "    queue: helpdesk\n"
        "    accept_key: '9'\n"
        "    next: bye\n"
        "    decline: bye\n"
        "    fallback: bye\n"
        "  bye:\n"
        "    type: hangup\n"
        "    say: Goodbye.\n"
    )
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: nine books, nine confirms\n"
        "    caller: '3001'\n"
        "    input: ['9', '9']\n"
        "    expect:\n"
        "      heard:\n"
        "        - All our agents are busy. Press 9 and we will call you back, keeping your "
        "place in line. Press 2 to keep waiting.\n"
        "        - We will call you back on 3 0 0 1. Press 9 to confirm, or 2 to give another "
        "number.\n"
        "        - '[callback booked: 3001 in queue helpdesk]'\n"
        "        - Thank you. We will call you back. You can hang up now.\n"
        "        - Goodbye.\n"
    )
    result = ivr("dialplan", "test", str(plan), str(cases))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 0 failed" in result.stdout
