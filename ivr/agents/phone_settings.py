"""``agent_phone`` in ``ivr.yaml``: logging in by phone and agent presence from SIP.

```yaml
agent_phone:
  login: true                    # an agent calling from their own extension gets the agent menu
  voice: en                      # espeak-ng voice of its prompts
  keys: {available: "1", break: "2", offline: "3", ready: "4", hotline: "0"}   # in the menu
  codes: {available: "*45", break: "*46", offline: "*47", ready: "*48"}      # dialled
  key_timeout_seconds: 8         # the menu waits this long for a key, twice
  probe_interval_seconds: 0      # SIP OPTIONS to the phones of agents taking calls; 0: off
  probe_timeout_seconds: 2       # no answer by then: unreachable
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.config_values import parse_mapping
from ivr.exceptions import ConfigError

PHONE_KEYS = {
    "login",
    "voice",
    "keys",
    "codes",
    "key_timeout_seconds",
    "probe_interval_seconds",
    "probe_timeout_seconds",
}
# What a key or a code asks for: a state, "ready" (wrap-up over, take calls), or the
# hotline (the customer plan, for an agent who calls it as a customer would).
STATE_ACTIONS = ("available", "break", "offline", "ready")
MENU_ACTIONS = (*STATE_ACTIONS, "hotline")
_KEY = re.compile(r"[0-9*#]")
_CODE = re.compile(r"[0-9*#]{1,16}")


@dataclass(frozen=True)
class AgentPhoneSettings:
    login: bool = True
    voice: str = "en"
    # menu key -> action (one of MENU_ACTIONS)
    keys: Mapping[str, str] = field(
        default_factory=lambda: {
            "1": "available",
            "2": "break",
            "3": "offline",
            "4": "ready",
            "0": "hotline",
        }
    )
    # dialled number (the To user) -> action (one of STATE_ACTIONS); both are written
    # {action: key} in ivr.yaml
    codes: Mapping[str, str] = field(
        default_factory=lambda: {
            "*45": "available",
            "*46": "break",
            "*47": "offline",
            "*48": "ready",
        }
    )
    key_timeout_seconds: float = 8.0
    probe_interval_seconds: float = 0.0  # 0: no periodic OPTIONS (failed dials still count)
    probe_timeout_seconds: float = 2.0


def _seconds(raw: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{key} has value {value!r}: expected seconds, 0 or more")
    return float(value)


def _actions(
    raw: Any, where: str, shape: re.Pattern[str], allowed: tuple[str, ...], kind: str
) -> dict[str, str]:
    """Written ``{action: key}``; returned ``{key: action}``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} has value {raw!r}: expected a mapping")
    found: dict[str, str] = {}
    for name, value in raw.items():
        action, key = str(name), str(value)
        if action not in allowed:
            raise ConfigError(f"{where}: unknown action {action!r} (expected {', '.join(allowed)})")
        if not shape.fullmatch(key):
            raise ConfigError(f"{where}.{action} has value {value!r}: expected {kind}")
        if key in found:
            raise ConfigError(f"{where}: {key!r} is given to {found[key]} and {action}")
        found[key] = action
    return found


def parse_agent_phone(raw: Any, where: str) -> AgentPhoneSettings:
    """The ``agent_phone`` section. Raises ConfigError naming the key and value."""
    raw = parse_mapping(raw or {}, where, PHONE_KEYS)
    defaults = AgentPhoneSettings()
    login = raw.get("login", True)
    if not isinstance(login, bool):
        raise ConfigError(f"{where}.login has value {login!r}: expected true or false")
    voice = str(raw.get("voice") or defaults.voice)
    keys = (
        _actions(raw["keys"], f"{where}.keys", _KEY, MENU_ACTIONS, "one key, 0-9 * #")
        if raw.get("keys") is not None
        else dict(defaults.keys)
    )
    codes = (
        _actions(raw["codes"], f"{where}.codes", _CODE, STATE_ACTIONS, "1-16 keys, 0-9 * #")
        if raw.get("codes") is not None
        else dict(defaults.codes)
    )
    timeout = _seconds(raw, "key_timeout_seconds", where, defaults.key_timeout_seconds)
    probe_timeout = _seconds(raw, "probe_timeout_seconds", where, defaults.probe_timeout_seconds)
    if timeout == 0 or probe_timeout == 0:
        raise ConfigError(f"{where}: key_timeout_seconds and probe_timeout_seconds must be above 0")
    return AgentPhoneSettings(
        login=login,
        voice=voice,
        keys=keys,
        codes=codes,
        key_timeout_seconds=timeout,
        probe_interval_seconds=_seconds(raw, "probe_interval_seconds", where, 0.0),
        probe_timeout_seconds=probe_timeout,
    )
