"""Kamailio as the dispatcher in front of several IVR processes (how a pjsua2 IVR of
more than 4 calls has to be deployed): INVITEs go round robin to the processes; one that
answers busy (486) or 5xx or not at all passes the call to the next; when every process
refused, the caller gets 503. In-dialog requests follow the process that took the call
(remembered by Call-ID: SIPp sends them without a Route header)."""

from __future__ import annotations

import shutil
from pathlib import Path

from peers.kamailio import Kamailio, launch

from ivr.edge.kamailio import modules_dir

CONFIG = """#!KAMAILIO
debug=1
log_stderror=yes
children=4
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
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
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "htable.so"
loadmodule "dispatcher.so"

modparam("htable", "htable", "callroute=>size=14;autoexpire=300;")
modparam("dispatcher", "list_file", "{list_file}")
modparam("dispatcher", "flags", 2)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (!loose_route()) {{
            if ($sht(callroute=>$ci) == $null) {{
                if (!is_method("ACK")) {{ sl_send_reply("481", "No such call"); }}
                exit;
            }}
            $du = $sht(callroute=>$ci);
        }}
        if (!t_relay()) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    if (t_precheck_trans()) {{ t_check_trans(); exit; }}
    t_check_trans();
    record_route();
    if (!ds_select_dst("1", "4")) {{ sl_send_reply("503", "No IVR process"); exit; }}
    route(RELAY);
}}

route[RELAY] {{
    t_set_fr(0, 2000);
    t_on_failure("NEXT");
    $sht(callroute=>$ci) = $du;
    if (!t_relay()) {{ sl_reply_error(); }}
}}

failure_route[NEXT] {{
    if (t_is_canceled()) {{ exit; }}
    if (t_check_status("486|408|5[0-9][0-9]")) {{
        if (ds_next_dst()) {{ route(RELAY); exit; }}
        t_reply("503", "All IVR processes busy");
    }}
}}
"""


def start_dispatcher(workdir: Path, port: int, targets: list[int]) -> Kamailio:
    """Kamailio on 127.0.0.1:``port`` spreading calls over 127.0.0.1:``targets``."""
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    workdir.mkdir(parents=True, exist_ok=True)
    list_file = workdir / "dispatcher.list"
    list_file.write_text("".join(f"1 sip:127.0.0.1:{target}\n" for target in targets))
    config = workdir / "kamailio.cfg"
    config.write_text(
        CONFIG.format(port=port, modules=modules_dir(Path(binary)), list_file=list_file)
    )
    return launch(binary, config, workdir, port)
