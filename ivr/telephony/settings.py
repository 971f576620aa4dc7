"""The SIP stack's settings (the ``sip`` section of ``ivr.yaml``).

Kept apart from ``ivr.config`` so the engine loads its own settings only, not
every package's (the loader in ``ivr.config`` composes them).

```yaml
sip:
  listen: 10.0.0.5:5060
  accounts:
    - {user: "7000", domain: pbx.example.com, password: secret, reg_interval: 600}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr import config_table as table
from ivr.config_values import SIP_TRANSPORTS, HostPort, parse_mapping
from ivr.edge.settings import SipAdmission, SipTls
from ivr.exceptions import ConfigError

ACCOUNT_KEYS = {
    "user",
    "domain",
    "password",
    "registrar",
    "transport",
    "reg_interval",
    "auth_user",
}


@dataclass(frozen=True)
class SipAccount:
    """A PBX extension the service registers as (digest auth)."""

    user: str
    domain: str
    password: str = field(repr=False, default="")
    registrar: str | None = None
    transport: str = "udp"
    reg_interval: int = 600  # seconds between registrations
    auth_user: str | None = None


@dataclass(frozen=True)
class SipConfig:
    listen: HostPort = table.SIP_LISTEN.default
    transports: tuple[str, ...] = table.SIP_TRANSPORT_LIST.default
    accounts: tuple[SipAccount, ...] = ()
    max_calls: int = table.MAX_CALLS.default
    max_loop_lag_ms: int = table.MAX_LOOP_LAG_MS.default  # later than this: full (headroom)
    max_new_calls_per_second: int = table.MAX_NEW_CALLS_PER_SECOND.default
    rtp_timeout_seconds: int = table.RTP_TIMEOUT_SECONDS.default
    admission: SipAdmission = SipAdmission()  # at the Kamailio edge (ivr/edge)
    tls: SipTls = SipTls()  # at the Kamailio edge
    media_encryption: str = table.MEDIA_ENCRYPTION.default
    rtp_ports: tuple[int, int] = table.RTP_PORTS.default


def parse_sip_accounts(value: Any, source: str) -> tuple[SipAccount, ...]:
    """``sip.accounts``: a list of accounts; None is none.

    Raises:
        ConfigError: naming the account's setting, the bad value and ``source``.
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{source}: sip.accounts has value {value!r}: expected a list")
    return tuple(
        _account(item, f"{source}: sip.accounts[{index}]") for index, item in enumerate(value)
    )


def _account(item: Any, where: str) -> SipAccount:
    if item is None:
        raise ConfigError(f"{where} has value None: expected a mapping")
    raw: Mapping[str, Any] = parse_mapping(item, where, ACCOUNT_KEYS)
    for required in ("user", "domain"):
        if not raw.get(required):
            raise ConfigError(f"{where}: '{required}' is required")
    transport = str(raw.get("transport", "udp")).lower()
    if transport not in SIP_TRANSPORTS:
        raise ConfigError(f"{where}.transport has value {transport!r}: expected udp or tcp")
    reg_interval = raw.get("reg_interval", 600)
    try:
        seconds = int(reg_interval)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{where}.reg_interval has value {reg_interval!r}: expected a whole number of seconds"
        ) from None
    return SipAccount(
        user=str(raw["user"]),
        domain=str(raw["domain"]),
        password=str(raw.get("password") or ""),
        registrar=str(raw["registrar"]) if raw.get("registrar") else None,
        transport=transport,
        reg_interval=seconds,
        auth_user=str(raw["auth_user"]) if raw.get("auth_user") else None,
    )
