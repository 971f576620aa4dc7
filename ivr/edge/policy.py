"""The admission and TLS parts of the edge's kamailio.cfg.

:mod:`ivr.edge.render` writes the routing (dispatcher to the workers);
this module writes what decides whether a request gets that far:

``route[ADMIT]`` (every request, first): the call workers' own addresses pass
(their in-dialog requests come back through the edge); any other source must be
on ``allow`` (else 403 or silence). Initial INVITE, OPTIONS and REGISTER are
counted per source address and wall-clock second in an htable; past the limit
they get 503 with Retry-After (or silence).

``route[AUTH]`` (new INVITEs): digest authentication against HA1 values kept
in an htable (filled when Kamailio starts); the credentials are consumed so
the workers never see them.

``route[CALL_CAP]`` (new INVITEs): the dialog module counts calls in a profile;
past ``max_calls`` new calls get 503.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from ivr.edge.settings import SipAdmission, SipTls

# Methods the service takes out of dialog (OPTIONS is answered by the edge)
# and in dialog; what a 405 lists in its Allow header.
ALLOWED_METHODS = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER, UPDATE"
RETRY_AFTER_SECONDS = 5
DIALOG_TIMEOUT_SECONDS = 4 * 3600


@dataclass(frozen=True)
class EdgePolicy:
    admission: SipAdmission
    tls: SipTls
    worker_hosts: tuple[str, ...]  # always admitted: the workers' in-dialog requests
    max_calls: int  # the cap on concurrent calls (the settings' 0 already resolved)


def globals_block(policy: EdgePolicy) -> str:
    """Core settings: connection caps, the TLS listener."""
    lines = []
    if policy.admission.enabled:
        cap = policy.admission.max_tcp_connections
        lines += [f"tcp_max_connections={cap}", f"tls_max_connections={cap}"]
    tls = policy.tls
    if tls.enabled and tls.listen is not None:
        lines += [
            "enable_tls=yes",
            # A PBX that sends ";alias" in its Via gets the service's requests back on
            # the connection it opened (a TLS client seldom listens on its source port).
            "tcp_accept_aliases=yes",
            f"listen=tls:{tls.listen.host}:{tls.listen.port}",
            f'alias="{tls.listen.host}:{tls.listen.port}"',
        ]
    return "\n".join(lines)


def modules_block(policy: EdgePolicy, tls_config: Path | None) -> str:
    """loadmodule and modparam lines (after the routing's own modules)."""
    lines = []
    admission = policy.admission
    if admission.enabled:
        lines += [
            'loadmodule "dialog.so"',
            'loadmodule "auth.so"',
            # Counters per source, method and second: a few seconds is plenty
            # (initval: $shtinc creates a missing counter only with one).
            'modparam("htable", "htable", "ratelimit=>size=12;autoexpire=5;initval=0;")',
            'modparam("dialog", "profiles_no_value", "calls")',
            # In-dialog requests without a Route set (matched by Call-ID and tags).
            'modparam("dialog", "dlg_match_mode", 1)',
            f'modparam("dialog", "default_timeout", {DIALOG_TIMEOUT_SECONDS})',
            # The nonce secret is new on every start: old challenges die with it.
            f'modparam("auth", "secret", "{secrets.token_hex(16)}")',
        ]
        if admission.digest is not None:
            lines.append('modparam("htable", "htable", "digest=>size=8;")')
    if policy.tls.enabled and tls_config is not None:
        lines += ['loadmodule "tls.so"', f'modparam("tls", "config", "{tls_config}")']
    return "\n".join(lines)


def _source_test(networks: tuple[str, ...]) -> str:
    tests = []
    for text in networks:
        network = ipaddress.ip_network(text)
        host = f"[{network.network_address}]" if network.version == 6 else network.network_address
        tests.append(f"src_ip=={host}/{network.prefixlen}")
    return " || ".join(tests)


def _refuse(mode: str, code: str, reason: str, retry_after: int | None = None) -> str:
    if mode == "drop":
        return "drop;"
    header = f'append_to_reply("Retry-After: {retry_after}\\r\\n"); ' if retry_after else ""
    return f'if (!is_method("ACK")) {{ {header}sl_send_reply("{code}", "{reason}"); }} exit;'


def routes_block(policy: EdgePolicy) -> str:
    """route[ADMIT], route[AUTH], route[CALL_CAP] and, for digest, the HA1 table's filling."""
    admission = policy.admission
    if not admission.enabled:
        return "route[ADMIT] {\n    return;\n}\nroute[AUTH] {\n    return;\n}\n" + (
            "route[CALL_CAP] {\n    return;\n}\n"
        )
    workers = _source_test(
        tuple(f"{h}/32" if ":" not in h else f"{h}/128" for h in policy.worker_hosts)
    )
    allow = _source_test(admission.allow)
    limits = admission.rate_limits
    over = _refuse(limits.over_limit, "503", "Rate limit exceeded", 1)
    parts = ["route[ADMIT] {"]
    if workers:
        # Only in dialog: the workers send nothing else through the edge.
        parts.append(f"    if (has_totag() && ({workers})) {{ return; }}")
    if allow:
        parts += [
            f"    if (!({allow})) {{",
            '        xlog("L_NOTICE", "SIP from $si:$sp refused: not on sip.admission.allow '
            '($rm)\\n");',
            f"        {_refuse(admission.refuse, '403', 'Forbidden')}",
            "    }",
        ]
    parts += [
        "    if (has_totag()) { return; }",
        '    if (is_method("INVITE")) { $var(limit) = ' + f"{limits.invite_per_second}; }}",
        '    else if (is_method("OPTIONS")) { $var(limit) = ' + f"{limits.options_per_second}; }}",
        '    else if (is_method("REGISTER")) { $var(limit) = '
        + f"{limits.register_per_second}; }}",
        "    else { return; }",
        "    if ($var(limit) == 0) { return; }",
        '    $var(key) = $si + ":" + $rm + ":" + $Ts;',
        "    $var(count) = $shtinc(ratelimit=>$var(key));",
        "    if ($var(count) > $var(limit)) {",
        "        if ($var(count) == $var(limit) + 1) {",
        '            xlog("L_WARN", "SIP from $si: more than $var(limit) $rm per second, '
        'refused for the rest of this second\\n");',
        "        }",
        f"        {over}",
        "    }",
        "}",
        "",
        "route[AUTH] {",
    ]
    digest = admission.digest
    if digest is None:
        parts.append("    return;")
    else:
        realm = digest.realm
        parts += [
            '    if (!is_present_hf("Authorization")) {',
            f'        www_challenge("{realm}", "1");',
            "        exit;",
            "    }",
            '    if ($sht(digest=>$au) == $null || !pv_www_authenticate("'
            + realm
            + '", "$sht(digest=>$au)", "1")) {',
            '        xlog("L_NOTICE", "SIP from $si: digest authentication failed for user '
            "'$au' ($rm)\\n\");",
            f'        www_challenge("{realm}", "1");',
            "        exit;",
            "    }",
            "    consume_credentials();",
        ]
    parts += [
        "}",
        "",
        "route[CALL_CAP] {",
        '    get_profile_size("calls", "$var(calls)");',
        f"    if ($var(calls) >= {policy.max_calls}) {{",
        f'        xlog("L_WARN", "call from $si refused: {policy.max_calls} calls '
        'in progress\\n");',
        f'        append_to_reply("Retry-After: {RETRY_AFTER_SECONDS}\\r\\n");',
        '        sl_send_reply("503", "Too many calls");',
        "        exit;",
        "    }",
        "    dlg_manage();",
        '    set_dlg_profile("calls");',
        "}",
    ]
    if digest is not None:
        parts += ["", "event_route[htable:mod-init] {"]
        parts += [f'    $sht(digest=>{user.user}) = "{user.ha1}";' for user in digest.users]
        parts.append("}")
    return "\n".join(parts) + "\n"


def in_dialog_tracking(policy: EdgePolicy) -> str:
    """What the in-dialog route does first: let the dialog module see the request."""
    return "dlg_manage();" if policy.admission.enabled else ""


def tls_config_text(tls: SipTls) -> str:
    """tls.cfg for the edge's TLS listener (server side) and its client side (no client
    connections are expected: requests to TLS peers reuse the connection they came on)."""
    lines = [
        "[server:default]",
        "method = TLSv1.2+",
        f"certificate = {tls.certificate}",
        f"private_key = {tls.private_key}",
        f"verify_certificate = {'yes' if tls.verify_client else 'no'}",
        f"require_certificate = {'yes' if tls.verify_client else 'no'}",
    ]
    if tls.ca_list is not None:
        lines.append(f"ca_list = {tls.ca_list}")
    lines += ["", "[client:default]", "method = TLSv1.2+", "verify_certificate = no", ""]
    return "\n".join(lines)
