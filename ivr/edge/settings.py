"""SIP admission and TLS at the edge (Kamailio in front of the call workers), from ``ivr.yaml``.

```yaml
sip:
  admission:
    enabled: true
    allow: [10.0.0.5, 10.20.0.0/16]     # PBX and trunks; empty: any source
    refuse: reply                        # others: reply 403, or drop (silence)
    digest:                              # optional: INVITEs must authenticate
      realm: hotline
      users: [{user: pbx, ha1: 5f4dcc3b5aa765d61d8327deb882cf99}]   # or password: ...
    rate_limits:                         # per source; past them 503 (reply) or silence (drop)
      {invite_per_second: 50, options_per_second: 20, register_per_second: 5, over_limit: reply}
    max_calls: 0                         # calls through the edge; 0: workers x sip.max_calls
    max_tcp_connections: 1024
  tls:
    enabled: true
    listen: 10.0.0.9:5061
    certificate: /etc/ivr/tls/server.pem
    private_key: /etc/ivr/tls/server.key
    ca_list: /etc/ivr/tls/pbx-ca.pem     # optional: client certificates signed by it
    verify_client: false                 # true: the PBX must present one
```

Passwords are turned into HA1 (MD5 of ``user:realm:password``, what digest
authentication checks against) when the file is read; neither is ever logged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.config_values import HostPort, parse_bool, parse_host_port, parse_mapping
from ivr.exceptions import ConfigError

REFUSE_MODES = ("reply", "drop")
ADMISSION_KEYS = {
    "enabled",
    "allow",
    "refuse",
    "digest",
    "rate_limits",
    "max_calls",
    "max_tcp_connections",
}
DIGEST_KEYS = {"realm", "users"}
DIGEST_USER_KEYS = {"user", "ha1", "password"}
RATE_KEYS = {"invite_per_second", "options_per_second", "register_per_second", "over_limit"}
TLS_KEYS = {"enabled", "listen", "certificate", "private_key", "ca_list", "verify_client"}
# A digest user name or realm goes into the generated Kamailio config as a string.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._~+-]{1,64}$")
_HA1 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class DigestUser:
    user: str
    ha1: str = field(repr=False)  # MD5(user:realm:password), lower-case hex


@dataclass(frozen=True)
class DigestSettings:
    realm: str = "hotline"
    users: tuple[DigestUser, ...] = ()


@dataclass(frozen=True)
class RateLimits:
    """Initial requests per source address and second; 0 means no limit."""

    invite_per_second: int = 50
    options_per_second: int = 20
    register_per_second: int = 5
    over_limit: str = "reply"  # reply: 503 with Retry-After; drop: silence


@dataclass(frozen=True)
class SipAdmission:
    enabled: bool = False
    allow: tuple[str, ...] = ()  # networks in CIDR form; empty: any source
    refuse: str = "reply"  # reply: 403; drop: silence
    digest: DigestSettings | None = None
    rate_limits: RateLimits = RateLimits()
    max_calls: int = 0  # 0: workers x sip.max_calls
    max_tcp_connections: int = 1024


@dataclass(frozen=True)
class SipTls:
    enabled: bool = False
    listen: HostPort | None = None
    certificate: Path | None = None
    private_key: Path | None = None
    ca_list: Path | None = None
    verify_client: bool = False


def digest_ha1(user: str, realm: str, password: str) -> str:
    """MD5 of ``user:realm:password`` in hex: the secret digest authentication checks."""
    # MD5 is what SIP digest authentication (RFC 2617) prescribes, not a choice.
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()


def _bool(raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    if raw.get(key) is None:
        return default
    try:
        return parse_bool(raw[key])
    except ValueError as exc:
        raise ConfigError(f"{where}.{key} has value {raw[key]!r}: {exc}") from None


def _count(raw: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ConfigError(f"{where}.{key} has value {value!r}: expected a whole number, 0 or more")
    return int(value)


def _mode(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = str(raw.get(key) or "reply").lower()
    if value not in REFUSE_MODES:
        raise ConfigError(f"{where}.{key} has value {raw[key]!r}: expected reply or drop")
    return value


def _networks(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{where} has value {value!r}: expected a list of addresses or networks")
    networks = []
    for item in items:
        try:
            network = ipaddress.ip_network(str(item).strip(), strict=False)
        except ValueError:
            raise ConfigError(
                f"{where} has value {item!r}: expected an IP address or network "
                "(e.g. 10.0.0.5 or 10.20.0.0/16)"
            ) from None
        networks.append(str(network))
    return tuple(networks)


def _digest(value: Any, where: str) -> DigestSettings | None:
    if value is None:
        return None
    raw = parse_mapping(value, where, DIGEST_KEYS)
    realm = str(raw.get("realm") or DigestSettings.realm)
    if not _SAFE_NAME.match(realm):
        raise ConfigError(f"{where}.realm has value {realm!r}: letters, digits and ._~+- only")
    users_raw = raw.get("users")
    if not isinstance(users_raw, list) or not users_raw:
        raise ConfigError(f"{where}.users: give at least one {{user, ha1}} (or password)")
    users = []
    for index, item in enumerate(users_raw):
        at = f"{where}.users[{index}]"
        entry = parse_mapping(item, at, DIGEST_USER_KEYS)
        user = str(entry.get("user") or "")
        if not _SAFE_NAME.match(user):
            raise ConfigError(f"{at}.user has value {user!r}: letters, digits and ._~+- only")
        if entry.get("ha1") and entry.get("password"):
            raise ConfigError(f"{at}: give ha1 or password, not both")
        if entry.get("ha1"):
            ha1 = str(entry["ha1"]).lower()
            if not _HA1.match(ha1):
                # The value is a secret: name the key, not the value.
                raise ConfigError(f"{at}.ha1: expected 32 hex digits (MD5 of user:realm:password)")
        elif entry.get("password"):
            ha1 = digest_ha1(user, realm, str(entry["password"]))
        else:
            raise ConfigError(f"{at}: give ha1 (MD5 of user:realm:password) or password")
        users.append(DigestUser(user, ha1))
    return DigestSettings(realm, tuple(users))


def parse_admission(value: Any, source: str) -> SipAdmission:
    """``sip.admission`` from the file.

    Raises:
        ConfigError: a key is unknown or a value malformed (the key and value named).
    """
    where = f"{source}: sip.admission"
    raw = parse_mapping(value, where, ADMISSION_KEYS)
    rate_where = f"{where}.rate_limits"
    rate_raw = parse_mapping(raw.get("rate_limits"), rate_where, RATE_KEYS)
    defaults = RateLimits()
    return SipAdmission(
        enabled=_bool(raw, "enabled", where, False),
        allow=_networks(raw.get("allow"), f"{where}.allow"),
        refuse=_mode(raw, "refuse", where),
        digest=_digest(raw.get("digest"), f"{where}.digest"),
        rate_limits=RateLimits(
            invite_per_second=_count(
                rate_raw, "invite_per_second", rate_where, defaults.invite_per_second
            ),
            options_per_second=_count(
                rate_raw, "options_per_second", rate_where, defaults.options_per_second
            ),
            register_per_second=_count(
                rate_raw, "register_per_second", rate_where, defaults.register_per_second
            ),
            over_limit=_mode(rate_raw, "over_limit", rate_where),
        ),
        max_calls=_count(raw, "max_calls", where, 0),
        max_tcp_connections=_count(raw, "max_tcp_connections", where, 1024) or 1024,
    )


def _file(raw: Mapping[str, Any], key: str, where: str, base_dir: Path) -> Path | None:
    if not raw.get(key):
        return None
    path = Path(str(raw[key]))
    return path if path.is_absolute() else base_dir / path


def parse_tls(value: Any, source: str, base_dir: Path) -> SipTls:
    """``sip.tls`` from the file; relative paths are taken from ``base_dir``.

    Raises:
        ConfigError: a key is unknown, a value malformed, or TLS is enabled without
            its listen address, certificate or key (or with files that are missing).
    """
    where = f"{source}: sip.tls"
    raw = parse_mapping(value, where, TLS_KEYS)
    listen = None
    if raw.get("listen"):
        try:
            listen = parse_host_port(str(raw["listen"]))
        except ValueError as exc:
            raise ConfigError(f"{where}.listen has value {raw['listen']!r}: {exc}") from None
    tls = SipTls(
        enabled=_bool(raw, "enabled", where, False),
        listen=listen,
        certificate=_file(raw, "certificate", where, base_dir),
        private_key=_file(raw, "private_key", where, base_dir),
        ca_list=_file(raw, "ca_list", where, base_dir),
        verify_client=_bool(raw, "verify_client", where, False),
    )
    if not tls.enabled:
        return tls
    if tls.listen is None:
        raise ConfigError(f"{where}.listen: required when TLS is enabled (e.g. 10.0.0.5:5061)")
    for key in ("certificate", "private_key", "ca_list"):
        path: Path | None = getattr(tls, key)
        if path is None and key != "ca_list":
            raise ConfigError(f"{where}.{key}: required when TLS is enabled (a PEM file)")
        if path is not None and not path.is_file():
            raise ConfigError(f"{where}.{key} has value {str(path)!r}: no such file")
    if tls.verify_client and tls.ca_list is None:
        raise ConfigError(f"{where}.verify_client: needs ca_list (the CA that signs clients)")
    return tls
