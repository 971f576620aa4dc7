"""The example plans' shipped cases, and the simulator's agents and queue waits."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml
from support.harness import REPO
from support.service import run_ivr

PLANS = REPO / "dialplans"
DIRECTORY = str(PLANS / "directory.csv")
OPEN = "2026-11-24T10:00:00+08:00"


def run_cases(plan: Path, cases: Path) -> tuple[int, str]:
    result = run_ivr("dialplan", "test", str(plan), str(cases), "--directory", DIRECTORY)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("language", ["en", "zh"])
def test_shipped_cases_of_the_example_plan_pass(language: str) -> None:
    cases = PLANS / "cases" / f"it-helpdesk.{language}.yaml"
    count = len(yaml.safe_load(cases.read_text(encoding="utf-8"))["cases"])
    code, output = run_cases(PLANS / f"it-helpdesk.{language}.yaml", cases)
    assert code == 0, output
    assert f"{count} passed, 0 failed" in output
    assert count >= 20


def test_a_wrong_expectation_about_a_transfer_fails(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        yaml.safe_dump(
            {
                "cases": [
                    {
                        "name": "nobody answers, but the case says they do",
                        "caller": "1002",
                        "time": OPEN,
                        "agents": "none",
                        "input": ["0", "1", "hangup"],
                        "expect": {"transfers": ["helpdesk: answer"]},
                    },
                    {
                        "name": "a long wait, but the case expects the agent at once",
                        "caller": "1002",
                        "time": OPEN,
                        "queue_wait": {"helpdesk": 301},
                        "input": ["0", "hangup"],
                        "expect": {
                            "path": [
                                "welcome",
                                "office_hours",
                                "identify",
                                "greet",
                                "main_menu",
                                "agent_route",
                                "to_agent",
                            ]
                        },
                    },
                ]
            }
        )
    )
    code, output = run_cases(PLANS / "it-helpdesk.en.yaml", cases)
    assert code == 1
    assert "transfers: expected ['helpdesk: answer'], got ['helpdesk: none']" in output, output
    assert "'agent_route', 'long_wait']" in output
    assert "0 passed, 2 failed" in output  # bad agents or waits: tests/test_dialplan_cases.py


class _TicketApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name http.server calls
        if self.path != "/api/tickets/4711":
            self.send_error(404)
            return
        body = json.dumps(
            {
                "id": 4711,
                "disposition": "completed",
                "work_status": "in_progress",
                "started_at": "2026-11-20T09:15:00+00:00",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def ticket_api() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _TicketApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("language", "spoken"),
    [
        ("en", "Ticket 4 7 1 1, opened on November 20, 2026, is being worked on."),
        ("zh", "工单4 7 1 1，创建于2026年11月20日，状态：正在处理。"),
    ],
)
def test_ticket_status_is_looked_up_and_spoken(
    ticket_api: str, tmp_path: Path, language: str, spoken: str
) -> None:
    nodes = yaml.safe_load((PLANS / f"it-helpdesk.{language}.yaml").read_text())["nodes"]
    heard = [nodes[name]["say"] for name in ("welcome", "greet", "main_menu", "ask_ticket")]
    heard[1] = heard[1].replace("{employee_name}", "Zhang Min")
    heard += [spoken, nodes["survey"]["say"], nodes["thanks"]["say"]]
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        yaml.safe_dump(
            {
                "cases": [
                    {
                        "name": "ticket in progress",
                        "caller": "1002",
                        "time": OPEN,
                        "values": {"service_api": ticket_api},
                        "input": ["9", "4711#", "5"],
                        "expect": {
                            "path": [
                                "welcome",
                                "office_hours",
                                "identify",
                                "greet",
                                "main_menu",
                                "ask_ticket",
                                "lookup_ticket",
                                "status_words",
                                "status_in_progress",
                                "ticket_status",
                                "survey",
                                "thanks",
                            ],
                            "satisfaction": 5,
                            "heard": heard,
                        },
                    }
                ]
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    code, output = run_cases(PLANS / f"it-helpdesk.{language}.yaml", cases)
    assert code == 0, output


PLAN_WITH_QUEUE = """plan: queued
voice: en
start: route
nodes:
  route:
    type: condition
    when:
      - {queue: helpdesk, wait_above: 120, goto: busy}
    otherwise: to_agent
  busy: {type: prompt, say: "It is busy.", next: to_agent}
  to_agent:
    type: transfer
    queue: helpdesk
    announce: "You are number {position}; about {wait_minutes} minutes."
    next: survey
    fallback: nobody
  survey: {type: survey, say: "Rate us.", next: bye}
  bye: {type: hangup, say: "Bye."}
  nobody: {type: hangup, say: "Nobody is there."}
"""


@pytest.mark.parametrize(
    ("options", "heard", "path"),
    [
        (
            [],
            "IVR: [queue helpdesk: agent answers]",
            "route -> to_agent -> survey -> bye",
        ),
        (
            ["--queue-wait", "helpdesk=600"],
            "IVR: You are number 1; about 10 minutes.",
            "route -> busy -> to_agent -> survey -> bye",
        ),
        (
            ["--agents", "none"],
            "IVR: [queue helpdesk: no agent]",
            "route -> busy -> to_agent -> nobody",
        ),
        (
            ["--agents", "refer"],
            "IVR: [queue helpdesk: referred to an agent]",
            "route -> to_agent",
        ),
    ],
)
def test_interactive_simulation_with_queue_waits_and_agents(
    tmp_path: Path, options: list[str], heard: str, path: str
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN_WITH_QUEUE)
    result = run_ivr("dialplan", "simulate", str(plan), *options, stdin="4\n")
    assert result.returncode == 0, result.stderr
    assert heard in result.stdout
    assert f"path: {path}\n" in result.stdout


def test_interactive_simulation_refuses_a_bad_queue_wait(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN_WITH_QUEUE)
    result = run_ivr("dialplan", "simulate", str(plan), "--queue-wait", "helpdesk")
    assert result.returncode == 2
    assert "--queue-wait 'helpdesk': expected QUEUE=SECONDS" in result.stderr


def test_an_intent_used_but_not_defined_is_located(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "plan: p\n"
        "speech: {model: en-us}\n"
        "intents:\n"
        "  password: {phrases: [reset my password]}\n"
        "start: menu\n"
        "nodes:\n"
        "  menu:\n"
        "    type: menu\n"
        "    say: Say what you need.\n"
        "    keys: {'1': bye}\n"
        "    intents: {password: bye, printer: bye}\n"
        "  bye: {type: hangup, say: Bye.}\n"
    )
    result = run_ivr("dialplan", "validate", str(plan))
    assert result.returncode == 1
    assert f"{plan}:11:30: intent 'printer' used but not defined (defined: password)" in (
        result.stdout
    )
    # The model is not installed here: a warning, the plan still goes into service.
    assert f"{plan}:2:17: warning: speech model 'en-us' is not installed" in result.stdout


@pytest.mark.parametrize(
    ("at", "path"),
    [
        (OPEN, "welcome -> office_hours -> identify -> greet -> main_menu -> software"),
        ("2026-11-24T20:00:00+08:00", "welcome -> office_hours -> closed -> closed_message"),
    ],
)
def test_interactive_simulation_at_a_given_moment(at: str, path: str) -> None:
    result = run_ivr(
        "dialplan",
        "simulate",
        str(PLANS / "it-helpdesk.en.yaml"),
        "--caller",
        "1002",
        "--at",
        at,
        "--directory",
        DIRECTORY,
        stdin="3\n",
    )
    assert result.returncode == 0, result.stderr
    assert f"path: {path}" in result.stdout


def test_interactive_simulation_needs_an_offset_in_at() -> None:
    result = run_ivr("dialplan", "simulate", str(PLANS / "it-helpdesk.en.yaml"), "--at", "10:00")
    assert result.returncode == 2
    assert "--at '10:00' is not ISO 8601" in result.stderr
