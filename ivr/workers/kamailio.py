"""The Kamailio front for several call workers: its config, written from ours.

Kamailio's dispatcher sends each new INVITE to the worker with the fewest live
calls (algorithm 10, its own call tracking by Call-ID), probes every worker
with OPTIONS each ``probe_interval_seconds`` and takes one that does not
answer within ``PROBE_TIMEOUT_MS`` out of the set until it answers again. An
INVITE that a worker does not answer within ``INVITE_ANSWER_TIMEOUT_MS``
(killed between two probes) or refuses with 5xx goes to the next worker, so a
caller only notices a delay.

Kamailio record-routes, so in-dialog requests of the worker (its re-INVITE,
BYE) pass it and the call load is released on BYE. A peer that sends its
in-dialog requests to Kamailio without the Route set (SIPp does) is routed by
Call-ID to the worker that took the call.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ivr.config import HostPort
from ivr.exceptions import IvrError
from ivr.sip_edge import kamailio_policy
from ivr.sip_edge.settings import SipAdmission, SipTls

MODULES_DIR = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
DISPATCHER_SET = 1
# A worker that does not answer a probe within this long is taken out. A live
# worker answers in milliseconds; a busy one (hundreds of calls on one core) can
# take a second or more, and taking it out then would pile its share onto the others.
PROBE_TIMEOUT_MS = 2000
# Probes missed in a row before a worker is taken out: one slow answer under load
# is not death. A dead worker is out after about probe interval + 2 s + 1 s.
PROBE_FAILURES = 2
# An INVITE with no answer at all after this long is re-routed to the next worker
# (the worker is not taken out for that: the probes decide).
INVITE_ANSWER_TIMEOUT_MS = 4000
# In-dialog requests (BYE, re-INVITE) wait for an answer as long as SIP's timer F.
IN_DIALOG_TIMEOUT_MS = 32000
# Call-ID -> worker entries (for peers without the Route set) outlive any call.
CALL_ROUTE_EXPIRE_SECONDS = 4 * 3600


class KamailioError(IvrError):
    """Kamailio is missing, or refused the config it was given."""


@dataclass(frozen=True)
class Worker:
    """One call worker behind Kamailio."""

    name: str  # unique; Kamailio keys the call load by it
    sip: HostPort
    max_calls: int


@dataclass(frozen=True)
class FrontConfig:
    listen: HostPort  # the one SIP address the PBX sends calls to
    transports: tuple[str, ...]
    workers: tuple[Worker, ...]
    probe_interval_seconds: int = 1
    children: int = 4  # Kamailio's UDP receiver processes
    admission: SipAdmission = SipAdmission()
    tls: SipTls = SipTls()

    def policy(self) -> kamailio_policy.EdgePolicy:
        cap = self.admission.max_calls or sum(w.max_calls for w in self.workers)
        hosts = tuple(dict.fromkeys(w.sip.host for w in self.workers))
        return kamailio_policy.EdgePolicy(self.admission, self.tls, hosts, cap)


def find_kamailio(configured: str | None = None) -> Path:
    """The kamailio binary: ``configured``, else on PATH, else /usr/sbin/kamailio.

    Raises:
        KamailioError: none of these exists.
    """
    candidate = configured or shutil.which("kamailio") or "/usr/sbin/kamailio"
    path = Path(candidate)
    if not path.is_file():
        raise KamailioError(
            f"workers.kamailio has value {candidate!r}: no such program; several workers "
            "need Kamailio in front (Debian package 'kamailio')"
        )
    return path


def dispatcher_list(front: FrontConfig) -> str:
    """The dispatcher list file: one line per worker, probed (flag 8), with its load key."""
    lines = ["# written by ivr serve --workers; do not edit (rewritten on every start)"]
    for worker in front.workers:
        lines.append(
            f"{DISPATCHER_SET} sip:{worker.sip} 8 0 "
            f"duid={worker.name};maxload={worker.max_calls} {worker.name}"
        )
    return "\n".join(lines) + "\n"


def render_config(front: FrontConfig, list_file: Path, tls_config: Path | None = None) -> str:
    """kamailio.cfg for ``front``; the dispatcher list is read from ``list_file``, the TLS
    settings (when TLS is enabled) from ``tls_config``."""
    policy = front.policy()
    listen = front.listen
    listens = "\n".join(f"listen={t}:{listen.host}:{listen.port}" for t in front.transports)
    return _TEMPLATE.format(
        listens=listens,
        host=listen.host,
        port=listen.port,
        children=front.children,
        modules=MODULES_DIR,
        list_file=list_file,
        probe=front.probe_interval_seconds,
        probe_timeout=PROBE_TIMEOUT_MS,
        probe_failures=PROBE_FAILURES,
        in_dialog_timeout=IN_DIALOG_TIMEOUT_MS,
        invite_timeout=INVITE_ANSWER_TIMEOUT_MS,
        route_expire=CALL_ROUTE_EXPIRE_SECONDS,
        set=DISPATCHER_SET,
        edge_globals=kamailio_policy.globals_block(policy),
        edge_modules=kamailio_policy.modules_block(policy, tls_config),
        edge_routes=kamailio_policy.routes_block(policy),
        in_dialog_tracking=kamailio_policy.in_dialog_tracking(policy),
        allowed_methods=kamailio_policy.ALLOWED_METHODS,
    )


def write_config(front: FrontConfig, directory: Path, binary: Path) -> Path:
    """Write kamailio.cfg and dispatcher.list into ``directory`` and check them.

    Raises:
        KamailioError: ``kamailio -c`` refused the config (its message included).
    """
    directory.mkdir(parents=True, exist_ok=True)
    list_file = directory / "dispatcher.list"
    list_file.write_text(dispatcher_list(front))
    tls_config = None
    if front.tls.enabled:
        tls_config = directory / "tls.cfg"
        tls_config.write_text(kamailio_policy.tls_config_text(front.tls))
    config = directory / "kamailio.cfg"
    # It may hold digest HA1 values: readable by this user only.
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text(render_config(front, list_file, tls_config))
    check = subprocess.run(
        [str(binary), "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise KamailioError(f"{config}: kamailio refused the config: {check.stderr[-2000:]}")
    return config


def kamailio_command(binary: Path, config: Path, run_dir: Path) -> list[str]:
    """Kamailio in the foreground, logging to standard error, its files in ``run_dir``."""
    return [
        str(binary),
        "-DD",
        "-E",
        "-f",
        str(config),
        "-Y",
        str(run_dir),
        "-P",
        str(run_dir / "kamailio.pid"),
    ]


_TEMPLATE = """#!KAMAILIO
# Written by `ivr serve --workers` from ivr.yaml; do not edit (rewritten on every start).
debug=1
log_stderror=yes
log_prefix="kamailio: "
children={children}
tcp_children=2
{listens}
alias="{host}:{port}"
{edge_globals}
mpath="{modules}"

loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "htable.so"
loadmodule "dispatcher.so"
loadmodule "nathelper.so"

modparam("tm", "fr_timer", {probe_timeout})
modparam("htable", "htable", "callroute=>size=14;autoexpire={route_expire};")
modparam("dispatcher", "list_file", "{list_file}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_ping_interval", {probe})
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", {probe_failures})
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_from", "sip:dispatcher@{host}:{port}")
modparam("dispatcher", "ds_hash_size", 10)
modparam("dispatcher", "ds_hash_expire", {route_expire})
modparam("dispatcher", "ds_hash_initexpire", 60)
modparam("dispatcher", "ds_hash_check_interval", 10)
{edge_modules}

request_route {{
    # Replies go back where the request came from, never to a Via host it names
    # (no reflection of replies to third parties; NAT).
    force_rport();
    route(ADMIT);
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) {{ exit; }}
    route(STRICT_SYNTAX);
    if (is_method("OPTIONS") && uri == myself && !has_totag()) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (has_totag()) {{
        route(IN_DIALOG);
        exit;
    }}
    route(EXTENSIONS_AND_BODIES);
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{ ds_load_update(); t_relay(); }}
        exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{ t_relay(); }}
        exit;
    }}
    # Nothing else is taken out of dialog (REGISTER: the service is no registrar).
    if (!is_method("INVITE")) {{
        append_to_reply("Allow: {allowed_methods}\r\n");
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    # A retransmitted INVITE (the caller heard nothing yet under load) belongs to its
    # transaction: answered from it, or absorbed while another process relays the
    # first copy. Dispatched again, it could go to the other worker and send the
    # call's ACK and BYE there (the call then never starts on the worker that has it).
    if (t_precheck_trans()) {{ t_check_trans(); exit; }}
    t_check_trans();
    route(AUTH);
    route(CALL_CAP);
    # A caller on TCP or TLS gets its in-dialog requests (re-INVITE, BYE) over the
    # connection it came on, whatever its Contact says (no transport=, NAT).
    route(CONTACT_ALIAS);
    record_route();
    if (!ds_select_dst("{set}", "10")) {{
        xlog("L_ERR", "no call worker available for $ci\\n");
        sl_send_reply("503", "No call worker available");
        exit;
    }}
    route(RELAY);
}}

route[STRICT_SYNTAX] {{
    # What the sanity module lets through but the workers should not see.
    if (!($ru =~ "^sips?:")) {{ sl_send_reply("416", "Unsupported URI Scheme"); exit; }}
    # Header parameters belong in a URI of a header, never in the Request-URI.
    if ($ru =~ "\\?") {{ sl_send_reply("400", "Bad Request-URI"); exit; }}
    # RFC 3261 dates are RFC 1123 dates in GMT.
    if (is_present_hf("Date")
            && !($hdr(Date) =~ "^[A-Z][a-z]{{2}}, [0-9]{{2}} [A-Z][a-z]{{2}} [0-9]{{4}} "
                 + "[0-9:]{{8}} GMT$")) {{
        sl_send_reply("400", "Bad Date");
        exit;
    }}
}}

route[EXTENSIONS_AND_BODIES] {{
    # RFC 3261 16.3, 8.2.2.3: extensions nobody here supports get 420 with the list.
    if (is_present_hf("Proxy-Require")) {{
        append_to_reply("Unsupported: $hdr(Proxy-Require)\r\n");
        sl_send_reply("420", "Bad Extension");
        exit;
    }}
    if (is_present_hf("Require")
            && !($hdr(Require) =~ "^ *(100rel|timer|replaces)"
                 + "( *, *(100rel|timer|replaces))* *$")) {{
        append_to_reply("Unsupported: $hdr(Require)\r\n");
        sl_send_reply("420", "Bad Extension");
        exit;
    }}
    if (!is_method("INVITE")) {{ return; }}
    # 8.2.3: a session description the workers cannot read (multipart, as SIP-I
    # trunks send, is left to them), or an answer the caller says it cannot take.
    if ($cl > 0 && !($cT =~ "^(application/sdp|multipart/)")) {{
        append_to_reply("Accept: application/sdp\r\n");
        sl_send_reply("415", "Unsupported Media Type");
        exit;
    }}
    if (is_present_hf("Accept") && !($hdr(Accept) =~ "application/(sdp|\\*)|\\*/\\*")) {{
        append_to_reply("Accept: application/sdp\r\n");
        sl_send_reply("406", "Not Acceptable");
        exit;
    }}
}}

route[RELAY] {{
    t_set_fr(0, {invite_timeout});
    t_on_failure("NEXT_WORKER");
    t_on_reply("INVITE_REPLY");
    $sht(callroute=>$ci) = $du;
    if (!t_relay()) {{ ds_load_unset(); sl_reply_error(); }}
}}

route[CONTACT_ALIAS] {{
    # A caller on TCP or TLS gets its in-dialog requests (re-INVITE, BYE) over the
    # connection it came on, whatever its Contact says (no transport=, NAT).
    if ((proto == TCP || proto == TLS) && is_present_hf("Contact")) {{ add_contact_alias(); }}
}}

reply_route {{
    # The same for a target refresh in a caller's reply (a 2xx to a re-INVITE).
    if ((proto == TCP || proto == TLS) && is_present_hf("Contact")) {{ add_contact_alias(); }}
}}

route[IN_DIALOG] {{
    if (!ds_is_from_list("{set}", "3")) {{ route(CONTACT_ALIAS); }}
    {in_dialog_tracking}
    # The global timer is the probes' (short); callers' phones get the usual time.
    t_set_fr(0, {in_dialog_timeout});
    # A retransmitted BYE is answered from its transaction (and ends the script
    # here), so a call's load is released once.
    if (is_method("BYE")) {{ t_check_trans(); ds_load_update(); }}
    if (loose_route()) {{
        route(NEXT_HOP_CHECK);
        if ($ru =~ ";alias=") {{ handle_ruri_alias(); }}
        if (!t_relay()) {{ sl_reply_error(); }}
        return;
    }}
    # No Route set (e.g. SIPp sends every request to one address): the worker
    # that took the call.
    if (uri == myself && $sht(callroute=>$ci) != $null) {{
        $du = $sht(callroute=>$ci);
        if (!t_relay()) {{ sl_reply_error(); }}
        return;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{ t_relay(); }}
        return;
    }}
    sl_send_reply("404", "Not here");
}}

route[NEXT_HOP_CHECK] {{
    # A worker's in-dialog requests go to its caller, wherever that is; anybody
    # else's only to a worker, by address (no DNS lookups of names a request
    # brings): the edge is no relay to third parties.
    if (ds_is_from_list("{set}", "3")) {{ return; }}
    if ($du != $null) {{ $var(next_hop) = $du; }} else {{ $var(next_hop) = $ru; }}
    if (!($(var(next_hop){{uri.host}}) =~ "^[0-9.]+$|^\\[")
            || !ds_is_from_list("{set}", "2", "$var(next_hop)")) {{
        if (!is_method("ACK")) {{ sl_send_reply("403", "Not routed here"); }}
        exit;
    }}
}}

onreply_route[INVITE_REPLY] {{
    if (is_method("INVITE") && status =~ "2[0-9][0-9]") {{ ds_load_update(); }}
}}

failure_route[NEXT_WORKER] {{
    # A CANCEL released the load already.
    if (t_is_canceled()) {{ exit; }}
    # No answer at all: the worker is gone; a 5xx: it is full or failing.
    if (t_branch_timeout() || t_check_status("5[0-9][0-9]")) {{
        # ds_next_dst moves the call's load to the next worker.
        if (ds_next_dst()) {{
            xlog("L_WARN", "call $ci re-routed to $du after $T_reply_code\\n");
            route(RELAY);
            exit;
        }}
    }}
    ds_load_unset();
}}

event_route[dispatcher:dst-down] {{
    # Marked down by a failed INVITE ($du) or by a failed probe ($ru).
    if ($du != $null) {{ $var(worker) = $du; }} else {{ $var(worker) = $ru; }}
    xlog("L_WARN", "call worker $var(worker) stopped answering: no new calls go to it\\n");
}}

event_route[dispatcher:dst-up] {{
    xlog("L_WARN", "call worker $ru answers again: it takes calls\\n");
}}

{edge_routes}"""


def check_edge_ports(front: FrontConfig) -> None:
    """The TLS listener must not take a worker's port (worker i is on sip.listen + i).

    Raises:
        KamailioError: it does (the setting and the clash named).
    """
    tls = front.tls.listen if front.tls.enabled else None
    if tls is None:
        return
    for worker in front.workers:
        if worker.sip == tls or tls == front.listen:
            raise KamailioError(
                f"sip.tls.listen has value '{tls}': that address is taken by "
                f"{'sip.listen' if tls == front.listen else 'call worker ' + worker.name}; "
                "choose another port"
            )


def parse_worker(text: str, max_calls: int) -> Worker:
    """``NAME=HOST:PORT`` (as ``ivr kamailio run --worker`` takes it).

    Raises:
        ValueError: the text is not of that form.
    """
    from ivr.config import parse_host_port

    name, sep, address = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--worker {text!r}: expected NAME=HOST:PORT, e.g. w1=10.0.0.11:5060")
    try:
        return Worker(name.strip(), parse_host_port(address), max_calls)
    except ValueError as exc:
        raise ValueError(f"--worker {text!r}: {exc}") from None


def probe(address: HostPort, timeout: float = 1.0) -> bool:
    """True when ``address`` answers a SIP OPTIONS over UDP within ``timeout`` seconds."""
    import socket
    import uuid

    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((address.host, address.port))
        local_host, local_port = sock.getsockname()[:2]
        request = (
            f"OPTIONS sip:ping@{address} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            f"From: <sip:probe@{local_host}:{local_port}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:ping@{address}>\r\nCall-ID: {uuid.uuid4().hex}\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            sock.send(request.encode())
            return sock.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False
