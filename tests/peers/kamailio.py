"""Kamailio as the test PBX: a registrar with digest auth and a proxy to registered users.

Every extension authenticates with the same password (``PASSWORD``), checked
by ``pv_www_authenticate`` so no database is needed. Requests to a
registered user are routed to its contact; anything else gets 404.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ivr.edge.kamailio import modules_dir

PASSWORD = "test-secret"

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
mpath="{modules}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "kex.so"
loadmodule "corex.so"

modparam("usrloc", "db_mode", 0)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) {{ exit; }}
    # The proxy record-routes, so in-dialog requests pass it both ways. A peer
    # that sends them here without a Route header (SIPp sends everything to
    # one address) is routed by the registered contact again.
    if (has_totag()) {{
        if (!loose_route() && uri == myself) {{
            if (!lookup("location")) {{
                if (!is_method("ACK")) {{ sl_send_reply("404", "Not here"); }}
                exit;
            }}
        }}
        if (!t_relay()) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "{password}", "0")) {{
            www_challenge("$td", "0");
            exit;
        }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE")) {{ record_route(); }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    if (!t_relay()) {{ sl_reply_error(); }}
}}
"""


@dataclass
class Kamailio:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_kamailio(workdir: Path, port: int) -> Kamailio:
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    if not Path(binary).exists():
        raise RuntimeError("kamailio is not installed (make test installs the Debian package)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "kamailio.cfg"
    modules = modules_dir(Path(binary))
    config.write_text(CONFIG.format(port=port, modules=modules, password=PASSWORD))
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"kamailio config invalid: {check.stderr.decode()[-2000:]}")
    return launch(binary, config, workdir, port)


def launch(binary: str, config: Path, workdir: Path, port: int) -> Kamailio:
    """Run Kamailio on ``config`` in the foreground and wait until it answers SIP."""
    log_path = workdir / "kamailio.log"
    with log_path.open("wb") as log:
        command = [binary, "-DD", "-E", "-f", str(config), "-Y", str(workdir)]
        command += ["-P", str(workdir / "pid")]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while not answers_sip(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"kamailio did not start: {log_path.read_text()[-2000:]}")
    return Kamailio(process, port, log_path)


def answers_sip(port: int) -> bool:
    """True once something on 127.0.0.1:``port`` answers an OPTIONS over UDP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        probe = (
            f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            f"From: <sip:probe@127.0.0.1:{local}>;tag=p\r\nTo: <sip:ping@127.0.0.1:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(probe.encode(), ("127.0.0.1", port))
        try:
            return sock.recv(4096).startswith(b"SIP/2.0")
        except OSError:
            return False
