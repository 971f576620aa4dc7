"""The ``helpdesk:`` section of ivr.yaml: which help desk gets our tickets, and how.

```yaml
helpdesk:
  kind: rt                              # Request Tracker 5 (REST 2)
  url: https://rt.example.com           # RT's web root; the API is <url>/REST/2.0
  token_env: IVR_HELPDESK_TOKEN         # the variable holding RT's auth token
  service_url: https://ivr.example.com  # our API as the help desk's people reach it
  default_queue: General
  queues:                               # first rule whose keys all match wins
    - {intent: password, rt_queue: Accounts}
    - {queue: helpdesk, rt_queue: IT Support}
    - {plan: default, rt_queue: General}
  fields:                               # RT custom fields filled from the call
    ticket_id: IVR Ticket               # our ticket id: how a retry finds RT's ticket again
    intent: IVR Intent
    disposition: IVR Disposition
  poll_interval_seconds: 5              # how often changes made in RT are read back
```

Parsed once, at start, into frozen dataclasses; every error names the key, the
value and the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.config_values import parse_mapping, parse_seconds, parse_text, parse_url
from ivr.exceptions import ConfigError

KINDS = ("rt",)
HELPDESK_KEYS = {
    "kind",
    "url",
    "token_env",
    "service_url",
    "default_queue",
    "queues",
    "fields",
    "poll_interval_seconds",
    "timeout_seconds",
    "max_backoff_seconds",
    "resync_seconds",
}
RULE_MATCH_KEYS = ("plan", "intent", "queue")
# What of our ticket a help desk field can hold.
FIELD_SOURCES = (
    "ticket_id",
    "intent",
    "disposition",
    "queue",
    "agent",
    "caller",
    "employee_id",
    "plan",
)


@dataclass(frozen=True)
class QueueRule:
    """Our plan, intent and queue (those set must all match) -> the help desk's queue."""

    target: str
    plan: str | None = None
    intent: str | None = None
    queue: str | None = None

    def matches(self, plan: str, intent: str | None, queue: str | None) -> bool:
        wanted = ((self.plan, plan), (self.intent, intent), (self.queue, queue))
        return all(want is None or want == have for want, have in wanted)


@dataclass(frozen=True)
class HelpdeskConfig:
    kind: str = "rt"
    url: str = ""
    token_env: str = "IVR_HELPDESK_TOKEN"
    service_url: str | None = None  # None: http://<http.listen>
    default_queue: str = "General"
    queues: tuple[QueueRule, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)  # our source -> their field
    poll_interval_seconds: float = 5.0
    timeout_seconds: float = 10.0
    max_backoff_seconds: float = 60.0
    # At start, changes made in the help desk this far back are read again (the
    # read-back watermark lives in memory; applying a change twice changes nothing).
    resync_seconds: float = 86400.0

    def queue_for(self, plan: str, intent: str | None, queue: str | None) -> str:
        for rule in self.queues:
            if rule.matches(plan, intent, queue):
                return rule.target
        return self.default_queue


def parse_helpdesk(raw: Any, source: str) -> HelpdeskConfig | None:
    """The ``helpdesk`` section, None when absent.

    Raises:
        ConfigError: naming ``helpdesk.<key>``, the bad value and ``source``.
    """
    if raw is None:
        return None
    section = parse_mapping(raw, f"{source}: helpdesk", HELPDESK_KEYS)

    def value(key: str, parse: Any, default: Any) -> Any:
        if section.get(key) is None:
            return default
        try:
            return parse(section[key])
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{source}: helpdesk.{key} has value {section[key]!r}: {exc}"
            ) from None

    kind = value("kind", parse_text, "rt")
    if kind not in KINDS:
        raise ConfigError(
            f"{source}: helpdesk.kind has value {kind!r}: known kinds are {', '.join(KINDS)}"
        )
    if section.get("url") is None:
        raise ConfigError(f"{source}: helpdesk.url is missing: the help desk's web root")
    defaults = HelpdeskConfig()
    return HelpdeskConfig(
        kind=kind,
        url=value("url", parse_url, "").rstrip("/"),
        token_env=value("token_env", parse_text, defaults.token_env),
        service_url=value("service_url", _url_root, None),
        default_queue=value("default_queue", parse_text, defaults.default_queue),
        queues=_rules(section.get("queues"), source),
        fields=_fields(section.get("fields"), source),
        poll_interval_seconds=value(
            "poll_interval_seconds", _positive_seconds, defaults.poll_interval_seconds
        ),
        timeout_seconds=value("timeout_seconds", _positive_seconds, defaults.timeout_seconds),
        max_backoff_seconds=value(
            "max_backoff_seconds", _positive_seconds, defaults.max_backoff_seconds
        ),
        resync_seconds=value("resync_seconds", parse_seconds, defaults.resync_seconds),
    )


def _url_root(value: Any) -> str:
    return parse_url(value).rstrip("/")


def _positive_seconds(value: Any) -> float:
    seconds = parse_seconds(value)
    if seconds == 0:
        raise ValueError("must be more than 0 seconds")
    return seconds


def _rules(raw: Any, source: str) -> tuple[QueueRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: helpdesk.queues has value {raw!r}: expected a list of rules")
    rules = []
    for index, item in enumerate(raw):
        where = f"{source}: helpdesk.queues[{index}]"
        rule = parse_mapping(item, where, {*RULE_MATCH_KEYS, "rt_queue"})
        if rule.get("rt_queue") is None:
            raise ConfigError(f"{where}: rt_queue is missing (the help desk's queue)")
        if not any(rule.get(key) is not None for key in RULE_MATCH_KEYS):
            raise ConfigError(
                f"{where} has value {item!r}: name at least one of {', '.join(RULE_MATCH_KEYS)}"
            )
        rules.append(
            QueueRule(
                target=str(rule["rt_queue"]),
                **{k: str(rule[k]) for k in RULE_MATCH_KEYS if rule.get(k) is not None},
            )
        )
    return tuple(rules)


def _fields(raw: Any, source: str) -> Mapping[str, str]:
    section = parse_mapping(raw, f"{source}: helpdesk.fields", FIELD_SOURCES)
    fields: dict[str, str] = {}
    for key, name in section.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f"{source}: helpdesk.fields.{key} has value {name!r}: "
                "expected the help desk field's name"
            )
        fields[str(key)] = name.strip()
    return fields
