"""Agents, queues and dialling rules from ``ivr.yaml``: typed, checked once at start.

```yaml
dialling:
  allow: ['^sip:6\\d{3}@pbx\\.example\\.com$']   # targets the service may dial or refer to
  extension_uri: "sip:{extension}@pbx.example.com"  # how an extension becomes a URI
agents:
  - {id: alice, name: Alice Wang, uri: "sip:6001@pbx.example.com", queues: [helpdesk]}
queues:
  helpdesk: {transfer: bridge, ring_timeout_seconds: 15, wrap_up_seconds: 20,
             dispositions: [password_reset, hardware, escalated]}
screen_pop_url: http://crm.example.com/screen-pop
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callback.dispatch_settings import CallingHours
from ivr.agents.callback_settings import CallbackSettings as CallbackSettings
from ivr.agents.callback_settings import parse_callbacks, parse_calling_hours
from ivr.agents.phone_settings import AgentPhoneSettings, parse_agent_phone
from ivr.config_values import parse_mapping, parse_seconds_at
from ivr.exceptions import ConfigError

TRANSFER_METHODS = ("bridge", "refer")
AGENT_KEYS = {"id", "name", "uri", "extension", "queues"}
QUEUE_KEYS = {
    "transfer",
    "ring_timeout_seconds",
    "wrap_up_seconds",
    "announce_every_seconds",
    "max_wait_seconds",
    "average_handle_seconds",
    "service_level_seconds",
    "whisper",
    "dispositions",
}
MAX_DISPOSITION_CHARS = 64
DIALLING_KEYS = {"allow", "extension_uri", "limits"}
LIMIT_KEYS = {"match", "per_number_per_day", "per_day", "hours"}


@dataclass(frozen=True)
class QueueSettings:
    name: str
    transfer: str = "bridge"  # bridge: the service stays in the path; refer: blind REFER
    ring_timeout_seconds: float = 15.0  # then the next agent is tried
    wrap_up_seconds: float = 10.0  # after a call, before the agent is offered again
    announce_every_seconds: float = 30.0  # position and estimated wait
    max_wait_seconds: float = 900.0  # then the plan's fallback
    average_handle_seconds: float = 240.0  # until live calls give a better figure
    service_level_seconds: float = 60.0  # a break is held while the wait is above this
    whisper: bool = True  # the agent hears who calls and why before being connected
    # the codes an agent picks from when wrapping a call up on the desk; none: no code
    dispositions: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentSettings:
    id: str
    name: str
    uri: str
    queues: tuple[str, ...]
    # the number their own phone calls from (``extension``, else the URI's user part):
    # a call from it may log them in by phone (agent_phone)
    extension: str = ""


@dataclass(frozen=True)
class DialLimit:
    """A toll-fraud brake on the targets ``match`` selects (normalised URIs)."""

    match: re.Pattern[str]
    per_number_per_day: int = 0  # dials of one target a day; 0: no cap
    per_day: int = 0  # dials of all its targets a day; 0: no cap
    hours: CallingHours | None = None  # when its targets may be dialled (days in its zone)


@dataclass(frozen=True)
class DiallingSettings:
    allow: tuple[re.Pattern[str], ...] = ()  # nothing may be dialled unless listed
    extension_uri: str = ""
    limits: tuple[DialLimit, ...] = ()


@dataclass(frozen=True)
class ContactCenterSettings:
    agents: tuple[AgentSettings, ...] = ()
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)
    dialling: DiallingSettings = DiallingSettings()
    screen_pop_url: str | None = None
    callbacks: CallbackSettings = CallbackSettings()  # with the value rule (dispatch.value)
    phone: AgentPhoneSettings = AgentPhoneSettings()  # log-in by phone, presence from SIP


def _queue(name: str, raw: Any, where: str) -> QueueSettings:
    raw = parse_mapping(raw or {}, where, QUEUE_KEYS)
    transfer = str(raw.get("transfer", "bridge"))
    if transfer not in TRANSFER_METHODS:
        raise ConfigError(f"{where}.transfer has value {transfer!r}: expected bridge or refer")
    whisper = raw.get("whisper", True)
    if not isinstance(whisper, bool):
        raise ConfigError(f"{where}.whisper has value {whisper!r}: expected true or false")
    defaults = QueueSettings(name)
    seconds = {
        key: parse_seconds_at(raw, key, where, getattr(defaults, key))
        for key in QUEUE_KEYS - {"transfer", "whisper", "dispositions"}
    }
    if seconds["average_handle_seconds"] <= 0:
        raise ConfigError(f"{where}.average_handle_seconds must be above 0")
    dispositions = _dispositions(raw.get("dispositions"), f"{where}.dispositions")
    return QueueSettings(
        name=name, transfer=transfer, whisper=whisper, dispositions=dispositions, **seconds
    )


def _dispositions(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where} has value {raw!r}: expected a list of codes")
    codes: list[str] = []
    for code in raw:
        if not isinstance(code, str | int) or isinstance(code, bool):
            raise ConfigError(f"{where} has value {code!r}: expected a code (text)")
        text = str(code).strip()
        if not text or len(text) > MAX_DISPOSITION_CHARS:
            raise ConfigError(
                f"{where} has value {code!r}: a code is 1-{MAX_DISPOSITION_CHARS} characters"
            )
        if text in codes:
            raise ConfigError(f"{where} has value {code!r}: listed twice")
        codes.append(text)
    return tuple(codes)


def _dialling(raw: Any, where: str) -> DiallingSettings:
    raw = parse_mapping(raw or {}, where, DIALLING_KEYS)
    patterns = raw.get("allow") or []
    if isinstance(patterns, str) or not isinstance(patterns, list):
        raise ConfigError(f"{where}.allow has value {patterns!r}: expected a list of patterns")
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(str(pattern)))
        except re.error as exc:
            raise ConfigError(f"{where}.allow has value {pattern!r}: {exc}") from None
    template = str(raw.get("extension_uri") or "")
    if template and "{extension}" not in template:
        raise ConfigError(f"{where}.extension_uri has value {template!r}: needs {{extension}}")
    limits = raw.get("limits") or []
    if not isinstance(limits, list):
        raise ConfigError(f"{where}.limits has value {limits!r}: expected a list")
    parsed = tuple(_dial_limit(item, f"{where}.limits[{i}]") for i, item in enumerate(limits))
    return DiallingSettings(tuple(compiled), template, parsed)


def _dial_limit(raw: Any, where: str) -> DialLimit:
    if raw is None:
        raise ConfigError(f"{where} has value None: expected a mapping")
    raw = parse_mapping(raw, where, LIMIT_KEYS)
    try:
        match = re.compile(str(raw.get("match", "")))
    except re.error as exc:
        raise ConfigError(f"{where}.match has value {raw.get('match')!r}: {exc}") from None
    caps = {}
    for key in ("per_number_per_day", "per_day"):
        value = raw.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}.{key} has value {value!r}: expected a whole number >= 0")
        caps[key] = value
    hours = parse_calling_hours(raw["hours"], f"{where}.hours") if raw.get("hours") else None
    return DialLimit(match, hours=hours, **caps)


def _agent(raw: Any, where: str, dialling: DiallingSettings, queues: set[str]) -> AgentSettings:
    if raw is None:
        raise ConfigError(f"{where} has value None: expected a mapping")
    raw = parse_mapping(raw, where, AGENT_KEYS)
    agent_id = str(raw.get("id") or "")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", agent_id):
        raise ConfigError(f"{where}.id has value {agent_id!r}: letters, digits, . _ - only")
    uri = str(raw.get("uri") or "")
    if not uri and raw.get("extension"):
        if not dialling.extension_uri:
            raise ConfigError(f"{where}: an extension needs dialling.extension_uri")
        uri = dialling.extension_uri.format(extension=raw["extension"])
    if not uri.startswith(("sip:", "sips:")):
        raise ConfigError(f"{where}: give 'uri' (sip:...) or 'extension'")
    listed = raw.get("queues") or []
    if isinstance(listed, str):
        listed = [listed]
    for queue in listed:
        if queue not in queues:
            raise ConfigError(f"{where}.queues names {queue!r}, which is not under 'queues'")
    extension = str(raw.get("extension") or "") or _uri_user(uri)
    return AgentSettings(agent_id, str(raw.get("name") or agent_id), uri, tuple(listed), extension)


def _uri_user(uri: str) -> str:
    user, at, _ = uri.partition(":")[2].partition("@")
    return user.split(";")[0] if at else ""


def parse_contact_center(raw: Mapping[str, Any], source: str) -> ContactCenterSettings:
    """The ``agents``, ``queues``, ``dialling``, ``screen_pop_url``, ``callbacks`` (see
    :mod:`ivr.agents.callback_settings`) and ``agent_phone`` settings.

    Raises:
        ConfigError: naming the setting, the bad value and ``source``.
    """
    dialling = _dialling(raw.get("dialling"), f"{source}: dialling")
    queues_raw = raw.get("queues") or {}
    if not isinstance(queues_raw, Mapping):
        raise ConfigError(f"{source}: queues has value {queues_raw!r}: expected a mapping")
    queues = {
        str(name): _queue(str(name), value, f"{source}: queues.{name}")
        for name, value in queues_raw.items()
    }
    agents_raw = raw.get("agents") or []
    if not isinstance(agents_raw, list):
        raise ConfigError(f"{source}: agents has value {agents_raw!r}: expected a list")
    agents = tuple(
        _agent(item, f"{source}: agents[{index}]", dialling, set(queues))
        for index, item in enumerate(agents_raw)
    )
    seen: set[str] = set()
    for agent in agents:
        if agent.id in seen:
            raise ConfigError(f"{source}: agents: id {agent.id!r} is listed twice")
        seen.add(agent.id)
    screen_pop = raw.get("screen_pop_url")
    if screen_pop is not None and not str(screen_pop).startswith(("http://", "https://")):
        raise ConfigError(f"{source}: screen_pop_url has value {screen_pop!r}: expected a URL")
    callbacks = parse_callbacks(raw.get("callbacks"), f"{source}: callbacks", set(queues))
    return ContactCenterSettings(
        agents,
        queues,
        dialling,
        str(screen_pop) if screen_pop else None,
        callbacks,
        parse_agent_phone(raw.get("agent_phone"), f"{source}: agent_phone"),
    )
