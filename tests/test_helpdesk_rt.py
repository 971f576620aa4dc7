"""Tickets in the help desk's own Request Tracker: a real RT 5 (Debian), real SIP calls.

The test starts RT on a free loopback port with its own SQLite database, the
service with a ``helpdesk:`` section pointing at it, and places calls with SIPp.
Each call becomes one RT ticket in the mapped queue, with the caller's e-mail
from the directory as requestor, the custom fields and a comment telling the
call with its recording link; RT stopped for 30 s during calls loses nothing and
doubles nothing; a change made in RT comes back to our ticket.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.harness import wait_until
from support.request_tracker import RequestTracker
from support.service import RunningService, run_ivr, start_service
from support.sipp import finish_sipp, run_sipp, start_sipp

REPO = Path(__file__).resolve().parents[1]
STATUS_PLANS = REPO / "tests" / "plans" / "helpdesk_status"
QUEUES = ["IT Support", "Accounts"]
FIELDS = ["IVR Ticket", "IVR Disposition", "IVR Intent"]
CALLER = "7701"
EMAIL = "li.wei@example.com"
OUTAGE_SECONDS = 30.0  # the outage: RT away this long while calls go on

HELPDESK_YAML = """
log_level: INFO
helpdesk:
  kind: rt
  url: {url}
  token_env: IVR_TEST_RT_TOKEN
  default_queue: General
  queues:
    - {{intent: password, rt_queue: Accounts}}
    - {{plan: default, rt_queue: IT Support}}
  fields:
    ticket_id: IVR Ticket
    disposition: IVR Disposition
    intent: IVR Intent
  poll_interval_seconds: 0.5
  max_backoff_seconds: 1
"""


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RequestTracker]:
    tracker = RequestTracker(tmp_path_factory.mktemp("rt"), QUEUES, FIELDS)
    tracker.start()
    yield tracker
    tracker.stop()


@pytest.fixture(scope="module")
def service(
    rt: RequestTracker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    workdir = tmp_path_factory.mktemp("service")
    directory = workdir / "directory.csv"
    directory.write_text(
        "number,employee_id,name,department,vip,email\n"
        f"{CALLER},100101,Li Wei,Finance,yes,{EMAIL}\n"
    )
    running = start_service(
        workdir,
        env={"IVR_DIRECTORY_CSV": str(directory), "IVR_TEST_RT_TOKEN": rt.token},
        config_text=HELPDESK_YAML.format(url=rt.url),
    )
    yield running
    running.stop()


def rt_tickets_of(rt: RequestTracker, ticket_id: int) -> list[dict[str, Any]]:
    return rt.search(f"'CF.{{IVR Ticket}}' = '{ticket_id}'")


def closed_in_rt(service: RunningService, rt: RequestTracker, ticket_id: int) -> str | None:
    """The RT id once our ticket has it and RT has the call's closing comment."""
    _, ticket = service.api(f"/api/tickets/{ticket_id}")
    rt_id = ticket.get("external_id")
    if not rt_id:
        return None
    told = [a for a in rt.comments(rt_id) if a["Subject"].startswith("IVR delivery")]
    return str(rt_id) if any("Disposition:" in a["Content"] for a in told) else None


def fields_of(rt_ticket: dict[str, Any]) -> dict[str, list[str]]:
    return {f["name"]: f["values"] for f in rt_ticket["CustomFields"]}


def test_calls_become_rt_tickets_with_queue_requestor_fields_and_recording_link(
    service: RunningService, rt: RequestTracker, tmp_path: Path
) -> None:
    result = run_sipp("menu_key1_rfc2833.xml", service.sip_uri_host, CALLER, workdir=tmp_path)
    assert result.returncode == 0, result.output
    [ours] = service.tickets_of(CALLER, 1)
    rt_id = wait_until(lambda: closed_in_rt(service, rt, ours["id"]), 30, "the RT ticket")

    [found] = rt_tickets_of(rt, ours["id"])  # one RT ticket for the call
    assert found["id"] == rt_id
    ticket = rt.get(f"ticket/{rt_id}")
    queue = rt.get(f"queue/{ticket['Queue']['id']}")
    assert queue["Name"] == "IT Support"  # {plan: default} (no intent on a keyed call)
    assert [r["id"] for r in ticket["Requestor"]] == [EMAIL]
    assert ticket["Subject"] == f"[IVR #{ours['id']}] Call from Li Wei ({CALLER}): default"
    assert fields_of(ticket) == {
        "IVR Ticket": [str(ours["id"])],
        "IVR Disposition": ["completed"],
        "IVR Intent": [],
    }
    [told] = [a for a in rt.comments(rt_id) if a["Subject"].startswith("IVR delivery")]
    body = told["Content"]
    api = f"http://127.0.0.1:{service.http_port}"
    assert ours["recording_path"]
    assert f"Recording: {api}/api/tickets/{ours['id']}/recording" in body
    assert "Path: welcome > main_menu > password_reset > goodbye" in body
    assert "Keys: 1" in body
    assert "Caller: Li Wei (7701)" in body
    assert "Employee: 100101, Finance, VIP" in body

    _, after = service.api(f"/api/tickets/{ours['id']}")
    assert after["external_url"] == f"{rt.url}/Ticket/Display.html?id={rt_id}"


def test_rt_down_for_30_seconds_during_calls_loses_nothing_and_doubles_nothing(
    service: RunningService, rt: RequestTracker, tmp_path: Path
) -> None:
    caller = "7702"
    rt.stop()
    down_at = time.monotonic()
    calls = start_sipp(
        "menu_key1_rfc2833.xml", service.sip_uri_host, caller, workdir=tmp_path, calls=3
    )
    result = finish_sipp(calls, tmp_path, 150)
    assert result.returncode == 0, result.output  # calls never wait for the help desk
    tickets = service.tickets_of(caller, 3)
    assert all(t["disposition"] == "completed" for t in tickets)
    wait_until(lambda: "Request Tracker: delivery" in service.log_text(), 20, "a failed delivery")
    assert all(service.api(f"/api/tickets/{t['id']}")[1]["external_id"] is None for t in tickets)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))  # the outage itself
    rt.start()

    for ticket in tickets:
        wait_until(lambda t=ticket: closed_in_rt(service, rt, t["id"]), 60, "RT caught up")
    for ticket in tickets:
        [found] = rt_tickets_of(rt, ticket["id"])
        told = [a for a in rt.comments(found["id"]) if a["Subject"].startswith("IVR delivery")]
        assert len(told) == 1  # the closing comment once, though retried while RT was down
    # Every RT ticket of ours belongs to exactly one of our tickets.
    mine = rt.search("'CF.{IVR Ticket}' IS NOT NULL", fields="CustomFields")
    ids = [fields_of(t)["IVR Ticket"][0] for t in mine]
    assert len(ids) == len(set(ids))


def test_changes_made_in_rt_show_on_our_ticket_and_our_resolve_resolves_rt(
    service: RunningService, rt: RequestTracker, tmp_path: Path
) -> None:
    caller = "7703"
    result = run_sipp("menu_key1_rfc2833.xml", service.sip_uri_host, caller, workdir=tmp_path)
    assert result.returncode == 0, result.output
    [ours] = service.tickets_of(caller, 1)
    rt_id = wait_until(lambda: closed_in_rt(service, rt, ours["id"]), 30, "the RT ticket")

    def ours_now() -> dict[str, Any]:
        return dict(service.api(f"/api/tickets/{ours['id']}")[1])

    rt.call("PUT", f"ticket/{rt_id}", {"Owner": "root", "Status": "resolved"})
    wait_until(
        lambda: ours_now()["work_status"] == "resolved" and ours_now()["assignee"] == "root",
        20,
        "RT's resolve and owner on our ticket",
    )
    assert any(n["author"] == "helpdesk" and "resolved" in n["text"] for n in ours_now()["notes"])

    rt.call("PUT", f"ticket/{rt_id}", {"Status": "open"})  # reopened in RT
    wait_until(lambda: ours_now()["work_status"] == "in_progress", 20, "the reopen")

    status, _ = service.api(f"/api/tickets/{ours['id']}", "PATCH", {"work_status": "resolved"})
    assert status == 200
    wait_until(lambda: rt.get(f"ticket/{rt_id}")["Status"] == "resolved", 20, "our resolve in RT")


def test_helpdesk_check_names_a_queue_rt_does_not_have(rt: RequestTracker, tmp_path: Path) -> None:
    config = tmp_path / "ivr.yaml"
    env = {"IVR_TEST_RT_TOKEN": rt.token, "PATH": "/usr/bin:/bin"}
    config.write_text(HELPDESK_YAML.format(url=rt.url))
    good = subprocess.run(
        [sys.executable, "-m", "ivr", "helpdesk", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "reachable, token accepted" in good.stdout
    config.write_text(
        HELPDESK_YAML.format(url=rt.url).replace("rt_queue: Accounts", "rt_queue: HR")
    )
    bad = subprocess.run(
        [sys.executable, "-m", "ivr", "helpdesk", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "helpdesk queue 'HR': RT has no such queue" in bad.stdout


def test_a_caller_hears_the_rt_number_and_an_rt_tickets_status(
    rt: RequestTracker, tmp_path: Path
) -> None:
    caller = "7704"
    service = start_service(
        tmp_path / "service",
        plans=STATUS_PLANS,
        env={"IVR_TEST_RT_TOKEN": rt.token},
        config_text=HELPDESK_YAML.format(url=rt.url),
    )
    try:
        # A real call: its own RT number is read out; it keys in 123456#, which RT lacks.
        scenario = "collect_id_and_rate.xml"
        result = run_sipp(scenario, service.sip_uri_host, caller, workdir=tmp_path / "call")
        assert result.returncode == 0, result.output
        [ours] = service.tickets_of(caller, 1)
        rt_id = wait_until(lambda: closed_in_rt(service, rt, ours["id"]), 30, "the RT ticket")
        assert ours["variables"]["helpdesk_ticket"] == rt_id
        assert "read_out" in ours["nodes"]
        assert ours["nodes"][-3:] == ["lookup", "unknown", "goodbye"]
        assert ours["variables"]["ticket"] == "123456"

        # The status intent's lookup, keyed in: RT resolves the ticket, the caller hears it.
        rt.call("PUT", f"ticket/{rt_id}", {"Status": "resolved"})
        api = f"http://127.0.0.1:{service.http_port}"
        status, body = service.api(f"/api/helpdesk/tickets/{rt_id}")
        assert status == 200 and body["status"] == "resolved"
        assert body["ticket_id"] == ours["id"]
        status, body = service.api(f"/api/helpdesk/tickets?caller={caller}")
        assert status == 200 and body["external_id"] == rt_id
        cases = tmp_path / "cases.yaml"
        cases.write_text(
            "cases:\n"
            "  - name: a resolved RT ticket\n"
            f"    values: {{service_api: '{api}', ticket_id: '{ours['id']}'}}\n"
            f"    input: ['{rt_id}#']\n"
            "    expect:\n"
            "      heard: ['Welcome to the IT help desk.', "
            f"'Your help desk ticket is number {' '.join(rt_id)}.', "
            "'To hear the status of a help desk ticket, key in its number, then press hash.', "
            f"'Help desk ticket {' '.join(rt_id)} is resolved.', 'Goodbye.']\n"
        )
        checked = run_ivr(
            "dialplan",
            "test",
            str(STATUS_PLANS / "default.yaml"),
            str(cases),
            env={"IVR_API_TOKEN": service.token},
        )
        assert checked.returncode == 0, checked.stdout
    finally:
        assert service.stop() == 0


async def test_a_change_delivered_again_after_a_crash_is_made_once_in_rt(
    rt: RequestTracker,
) -> None:
    from support.tickets import end, start

    from ivr.tickets import outbox
    from ivr.tickets.connectors.base import Change
    from ivr.tickets.connectors.rt import RtConnector
    from ivr.tickets.connectors.settings import parse_helpdesk
    from ivr.tickets.model import Disposition, Ticket

    raw = yaml.safe_load(HELPDESK_YAML.format(url=rt.url))["helpdesk"]
    settings = parse_helpdesk(raw, "test")
    assert settings is not None
    connector = RtConnector(settings, rt.token, "http://127.0.0.1:9")
    ours = 990001  # no ticket of the services here has it
    arrived = Ticket(id=ours, start=start("7705"), disposition=Disposition.LIVE)
    finished = end()
    closed = Ticket(
        id=ours,
        start=arrived.start,
        disposition=finished.disposition,
        ended_at=finished.ended_at,
        nodes=finished.nodes,
        keys=finished.keys,
        recording_path=finished.recording_path,
    )
    try:
        made = await connector.deliver(Change(1, outbox.CREATED, arrived), None)
        # The crash came before the RT id was stored: the retry knows of no RT ticket.
        assert await connector.deliver(Change(1, outbox.CREATED, arrived), None) == made
        # ... and before the outbox row was marked: the closing is made again.
        for _ in range(2):
            assert await connector.deliver(Change(2, outbox.CLOSED, closed), made) == made
        attempt = {"request": "r1", "attempt": 1, "outcome": "no_answer"}
        for _ in range(2):
            change = Change(3, outbox.CALLBACK_ATTEMPT, closed, attempt)
            await connector.deliver(change, made)
    finally:
        await connector.close()
    assert [t["id"] for t in rt_tickets_of(rt, ours)] == [made.id]
    told = [a["Subject"] for a in rt.comments(made.id) if a["Subject"].startswith("IVR")]
    assert told == ["IVR delivery 2", "IVR delivery 3"]
    ticket = rt.get(f"ticket/{made.id}")
    assert fields_of(ticket)["IVR Disposition"] == ["completed"]
