"""A worker that is starting again (its SIP stack listens, its catch-all agent is not
there yet) answers an INVITE 404; the edge (``ivr kamailio run``, real Kamailio) sends
the call to the next worker instead of passing the 404 to the caller.

Found in CI: a worker killed and restarted by the supervisor within Kamailio's probe
interval was never marked down, and two new calls got its 404 in the half second its
stack listened without the agent. The workers here are hand-made UDP endpoints so the
404 arrives every time, not only inside that half second.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.harness import PYTHON, free_port, stop_process, wait_until
from support.sip_edge import final_response, request, send, status_code


class HandMadeWorker:
    """Answers OPTIONS 200 (so the edge's probes find it up) and every INVITE with
    ``invite_status``; counts the INVITEs it got."""

    def __init__(self, invite_status: str) -> None:
        self.invite_status = invite_status
        self.invites = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                data, sender = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            head = data.decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
            method = head[0].split(" ", 1)[0]
            if method == "INVITE":
                self.invites += 1
                status = self.invite_status
            elif method == "OPTIONS":
                status = "200 OK"
            else:
                continue  # the ACK of our final answer
            copied = [
                line if not line.lower().startswith("to:") else line + ";tag=worker"
                for line in head[1:]
                if line.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
            ]
            reply = "\r\n".join([f"SIP/2.0 {status}", *copied, "Content-Length: 0"])
            self.sock.sendto((reply + "\r\n\r\n").encode(), sender)

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self.sock.close()


@contextmanager
def edge_in_front_of(workdir: Path, *workers: HandMadeWorker) -> Iterator[int]:
    """``ivr kamailio run`` on a free port in front of ``workers``; yields its port."""
    port = free_port()
    config = workdir / "ivr.yaml"
    config.write_text(
        f"sip:\n  listen: 127.0.0.1:{port}\nworkers:\n  probe_interval_seconds: 1\n"
        f"  run_dir: {workdir / 'run'}\n"
    )
    names = [f"--worker=w{i}=127.0.0.1:{w.port}" for i, w in enumerate(workers, 1)]
    log = (workdir / "kamailio.log").open("wb")
    process = subprocess.Popen(
        [PYTHON, "-m", "ivr", "kamailio", "run", "--config", str(config), *names],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def options_answered() -> bool:
            message = request("OPTIONS", port)
            return status_code(send(message, port, timeout=0.5)) is not None

        wait_until(options_answered, 30, "the edge answering OPTIONS")
        yield port
    finally:
        stop_process(process, 10, "kamailio")
        log.close()


def test_an_invite_a_starting_worker_answers_404_goes_to_the_next_worker(
    tmp_path: Path,
) -> None:
    starting, ready = HandMadeWorker("404 Not Found"), HandMadeWorker("603 Decline")
    try:
        with edge_in_front_of(tmp_path, ready, starting) as port:
            for _ in range(4):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(10)
                    sock.bind(("127.0.0.1", 0))
                    local = f"127.0.0.1:{sock.getsockname()[1]}"
                    message = request("INVITE", port, headers=("Content-Type: application/sdp",))
                    message = message.replace(b"{transport}", b"UDP")
                    sock.sendto(message.replace(b"{local}", local.encode()), ("127.0.0.1", port))
                    answer = final_response(sock)
                # The ready worker's own answer; never the starting one's 404.
                assert status_code(answer) == 603, answer
        assert starting.invites >= 1 and ready.invites == 4
    finally:
        starting.close()
        ready.close()
