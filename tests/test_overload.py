"""Past its capacity a node refuses new calls cleanly and never damages one it took
(issue 20): two workers behind Kamailio, real SIPp and hand-made INVITEs.

A worker whose event loop runs late (here: stopped with SIGSTOP for 1.5 s, as an
overloaded worker is starved of CPU) refuses the INVITEs that waited for it instead
of answering them late; Kamailio re-routes each to the other worker, or answers 503
with Retry-After when every worker is full. The same INVITE reaching two workers
(the edge re-routed it while the first was slow) is answered once, with one ticket.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.harness import wait_until
from support.nodes import RunningNode, running_node, worker_pid
from support.service import start_service
from support.sip_edge import final_response as edge_final_response
from support.sip_edge import request, status_code
from support.sip_messages import GOOD_SDP, final_message, in_dialog, invite, udp_phone
from support.sipp import finish_sipp, start_sipp

from ivr.edge.render import EDGE_TIME_HEADER, STALE_INVITE_SECONDS

# Loads or times a whole node: make test runs it alone, after the rest (serial).
pytestmark = pytest.mark.serial

STALL_SECONDS = 1.5  # longer than sip.max_loop_lag_ms, shorter than Kamailio's 4 s


@pytest.fixture
def node(tmp_path: Path, shared_redis_url: str, postgres_url: str) -> Iterator[RunningNode]:
    with running_node(tmp_path / "node", 2, "nodeO", shared_redis_url, postgres_url) as n:
        yield n


def pids(node: RunningNode) -> list[int]:
    env: dict[str, str] = node.env
    return [
        worker_pid(env["REDIS_URL"], env["IVR_REDIS_KEY_PREFIX"], node.worker_id(i)) for i in (1, 2)
    ]


def closed_tickets(node: RunningNode, caller: str, count: int) -> list[Any]:
    def closed() -> list[Any] | None:
        tickets: list[Any] = node.api(f"/api/tickets?caller={caller}&limit=100")[1]["tickets"]
        return tickets if sum(t["disposition"] != "live" for t in tickets) >= count else None

    return list(wait_until(closed, 60, f"{count} closed tickets of {caller}"))


def test_the_same_invite_at_two_workers_is_answered_once_with_one_ticket(
    node: RunningNode,
) -> None:
    with udp_phone(10) as (sock, port):
        message = invite(node, port, replace={"From": f"<sip:5401@127.0.0.1:{port}>;tag=dup1"})
        first, second = node.sip_port + 1, node.sip_port + 2  # the workers' own addresses
        sock.sendto(message, ("127.0.0.1", first))
        answer = final_message(sock)
        assert answer.startswith("SIP/2.0 200"), answer
        sock.sendto(in_dialog("ACK", message, answer, 1), ("127.0.0.1", first))
        # The same INVITE again, at the other worker: as if the edge re-routed it.
        sock.sendto(message, ("127.0.0.1", second))
        copy = final_message(sock)
        assert copy.startswith("SIP/2.0 486"), copy
        sock.sendto(in_dialog("BYE", message, answer, 2), ("127.0.0.1", first))
        assert final_message(sock).startswith("SIP/2.0 200")
    [ticket] = closed_tickets(node, "5401", 1)
    assert ticket["worker_id"] == node.worker_id(1)
    assert "taken already" in node.log_text()


def test_a_worker_whose_loop_ran_late_refuses_and_the_edge_re_routes(
    node: RunningNode, tmp_path: Path
) -> None:
    late, _ = pids(node)
    os.kill(late, signal.SIGSTOP)
    try:
        # Six calls arrive while worker 1 is stalled; Kamailio sends it about half.
        calls = start_sipp(
            "menu_key1_rfc2833.xml",
            node.sip_uri_host,
            "5402",
            calls=6,
            rate=10,
            workdir=tmp_path / "sipp",
            timeout=90,
        )
        # From the first call on worker 2, all six are sent within the stall.
        wait_until(lambda: node.api("/api/health", 2)[1]["live_calls"] >= 1, 30, "a call")
        time.sleep(STALL_SECONDS)
    finally:
        os.kill(late, signal.SIGCONT)
    result = finish_sipp(calls, tmp_path / "sipp", 120)
    assert result.returncode == 0, result.errors[-3000:] + node.log_text()[-3000:]
    tickets = closed_tickets(node, "5402", 6)
    assert len(tickets) == 6 and {t["disposition"] for t in tickets} == {"completed"}
    assert {t["keys"] for t in tickets} == {"1"}
    headroom = node.api("/api/health", 1)[1]["headroom"]
    assert headroom["refused"] >= 1, headroom
    assert node.log_text().count("re-routed to") >= headroom["refused"]
    assert {t["worker_id"] for t in tickets} == {node.worker_id(2)}, "answered late"


def test_when_every_worker_is_full_the_edge_answers_503_with_retry_after(
    node: RunningNode,
) -> None:
    workers = pids(node)
    with udp_phone(10) as (sock, port):
        local = f"127.0.0.1:{port}"
        message = request(
            "INVITE", node.sip_port, headers=("Content-Type: application/sdp",), body=GOOD_SDP
        )
        message = message.replace(b"{transport}", b"UDP").replace(b"{local}", local.encode())
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            sock.sendto(message, ("127.0.0.1", node.sip_port))
            time.sleep(STALL_SECONDS)
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        answer = edge_final_response(sock)
    assert status_code(answer) == 503, answer
    assert answer is not None and "Retry-After: " in answer, answer
    assert node.api("/api/tickets?caller=5001&limit=5")[1]["tickets"] == []


def test_a_call_whose_ack_never_comes_is_ended_and_recorded_as_such(
    node: RunningNode,
) -> None:
    with udp_phone(45) as (sock, port):
        message = invite(node, port, replace={"From": f"<sip:5404@127.0.0.1:{port}>;tag=noack"})
        sock.sendto(message, ("127.0.0.1", node.sip_port + 1))
        assert final_message(sock).startswith("SIP/2.0 200")
        # No ACK: the worker retransmits its 200 (RFC 3261 13.3.1.4), then ends the call.
        while not (received := sock.recv(65535).decode(errors="replace")).startswith("BYE"):
            assert received.startswith("SIP/2.0 200"), received
    [ticket] = closed_tickets(node, "5404", 1)
    assert ticket["disposition"] == "failed", ticket["end_reason"]
    assert "no ACK" in ticket["end_reason"], ticket


def test_a_caller_who_hangs_up_before_the_ack_reached_the_worker_is_an_answered_call(
    node: RunningNode,
) -> None:
    """Under load a caller's BYE can overtake its ACK (or the ACK is lost): a BYE comes
    only for an answered call, so the ticket says answered and ended by the caller."""
    with udp_phone(45) as (sock, port):
        message = invite(node, port, replace={"From": f"<sip:5406@127.0.0.1:{port}>;tag=byefirst"})
        sock.sendto(message, ("127.0.0.1", node.sip_port + 1))
        answer = final_message(sock)
        assert answer.startswith("SIP/2.0 200"), answer
        sock.sendto(in_dialog("BYE", message, answer, 2), ("127.0.0.1", node.sip_port + 1))
    [ticket] = closed_tickets(node, "5406", 1)
    assert ticket["answered_at"] is not None, (ticket["disposition"], ticket["end_reason"])
    assert ticket["disposition"] == "abandoned", ticket["end_reason"]
    assert "before it was answered" not in ticket["end_reason"], ticket


def test_an_invite_that_went_stale_before_its_answer_is_refused_not_answered(
    tmp_path: Path, stallable_redis: tuple[str, int], postgres_url: str
) -> None:
    """Taken up fresh, an INVITE can wait before its answer (here the worker's Redis
    stalls): past the edge's patience it is refused, so a caller the edge has told 503
    never gets a late 200."""
    url, redis_pid = stallable_redis
    with running_node(tmp_path / "node", 2, "nodeS", url, postgres_url) as node:
        with udp_phone(10) as (sock, port):
            message = invite(node, port, replace={"From": f"<sip:5407@127.0.0.1:{port}>;tag=s"})
            stamp = f"{EDGE_TIME_HEADER}: {time.time() - (STALE_INVITE_SECONDS - 1):.6f}\r\n"
            message = message.replace(b"Max-Forwards", stamp.encode() + b"Max-Forwards")
            os.kill(redis_pid, signal.SIGSTOP)
            try:
                sock.sendto(message, ("127.0.0.1", node.sip_port + 1))
                time.sleep(STALL_SECONDS)  # the INVITE is past the edge's patience now
            finally:
                os.kill(redis_pid, signal.SIGCONT)
            answer = final_message(sock)
        assert not answer.startswith("SIP/2.0 2"), answer
        [ticket] = closed_tickets(node, "5407", 1)
        assert ticket["answered_at"] is None, ticket
        assert "refused before the answer" in ticket["end_reason"], ticket["end_reason"]


def test_an_invite_that_waited_too_long_since_the_edge_relayed_it_is_refused(
    node: RunningNode,
) -> None:
    with udp_phone(10) as (sock, port):
        for waited, expected in ((STALE_INVITE_SECONDS + 1, "486"), (0.0, "200")):
            message = invite(node, port, replace={"From": f"<sip:5405@127.0.0.1:{port}>;tag=t"})
            stamp = f"{EDGE_TIME_HEADER}: {time.time() - waited:.6f}\r\n"
            message = message.replace(b"Max-Forwards", stamp.encode() + b"Max-Forwards")
            sock.sendto(message, ("127.0.0.1", node.sip_port + 1))
            answer = final_message(sock)
            assert answer.startswith(f"SIP/2.0 {expected}"), (waited, answer)
        sock.sendto(in_dialog("ACK", message, answer, 1), ("127.0.0.1", node.sip_port + 1))
        sock.sendto(in_dialog("BYE", message, answer, 2), ("127.0.0.1", node.sip_port + 1))
        assert final_message(sock).startswith("SIP/2.0 200")
    assert len(closed_tickets(node, "5405", 1)) == 1, "the refused INVITE has no ticket"
    assert node.api("/api/health", 1)[1]["headroom"]["refused"] == 1


def test_a_burst_past_the_new_call_rate_is_refused_before_it_is_answered(
    tmp_path: Path,
) -> None:
    service = start_service(tmp_path / "service", env={"IVR_MAX_NEW_CALLS_PER_SECOND": "1"})
    try:
        with udp_phone(10) as (sock, port):
            burst = [
                invite(service, port, replace={"From": f"<sip:5406@127.0.0.1:{port}>;tag=b{i}"})
                for i in range(3)
            ]
            for message in burst:
                sock.sendto(message, ("127.0.0.1", service.sip_port))
            answers = {}
            while len(answers) < 3:
                answer = final_message(sock)
                call_id = answer.split("Call-ID: ", 1)[1].split("\r\n", 1)[0]
                answers[call_id] = answer
            codes = sorted(a.split(" ", 2)[1] for a in answers.values())
            assert codes == ["200", "486", "486"], codes
            for message in burst:
                call_id = message.decode().split("Call-ID: ", 1)[1].split("\r\n", 1)[0]
                if answers[call_id].startswith("SIP/2.0 200"):
                    sock.sendto(
                        in_dialog("ACK", message, answers[call_id], 1),
                        ("127.0.0.1", service.sip_port),
                    )
                    sock.sendto(
                        in_dialog("BYE", message, answers[call_id], 2),
                        ("127.0.0.1", service.sip_port),
                    )
        assert len(service.tickets_of("5406", 1)) == 1
        assert service.api("/api/health")[1]["headroom"]["refused"] == 2
    finally:
        assert service.stop() == 0
