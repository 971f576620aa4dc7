"""The ``callbacks`` settings of ``ivr.yaml``: typed, checked once at start.

```yaml
callbacks:
  number_uri: "sip:{number}@pbx.example.com"
  calling_hours: {timezone: Europe/Berlin, weekdays: [mon, tue, wed, thu, fri],
                  open: "08:00", close: "18:00"}
  value: {vip_seconds: 600, intents: {password_reset: 120}, per_failed_attempt_seconds: 60}
```

``value`` is the most-valuable-first rule (:class:`callback.value.ValueRule`), which
the booking and the dispatcher apply; ``priority`` is its older spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callback.dispatch_settings import CallingHours, DispatchSettings
from callback.value import ValueRule
from ivr.config_values import parse_mapping, parse_seconds_at, parse_time_of_day
from ivr.exceptions import ConfigError

CALLBACK_KEYS = {
    "number_uri",
    "dispatcher",
    "modes",
    "max_attempts",
    "backoff_seconds",
    "lease_seconds",
    "redial_after_unknown",
    "max_dialling",
    "calling_hours",
    "slots",
    "value",
    "priority",  # the older spelling of value
    "ring_timeout_seconds",
    "key_wait_seconds",
}
VALUE_KEYS = {"vip_seconds", "intents", "per_failed_attempt_seconds"}
HOURS_KEYS = {"timezone", "weekdays", "open", "close"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CALLBACK_MODES = ("agent_first", "customer_first")


@dataclass(frozen=True)
class CallbackSettings:
    number_uri: str = ""  # how a customer's number becomes a URI, e.g. sip:{number}@pbx
    dispatcher: bool = True  # run a dispatcher inside the service
    dispatch: DispatchSettings = DispatchSettings()  # with the value rule (dispatch.value)
    slots: tuple[str, ...] = ()  # "after HH:MM" choices a caller may pick
    # ``slots: forecast``: the choices are the next valleys of the forecast instead
    slots_from_forecast: bool = False
    ring_timeout_seconds: float = 30.0  # a customer who does not answer by then: no_answer
    key_wait_seconds: float = 8.0  # customer_first: after each "press 1" prompt, then no_key


def parse_clock(value: Any, where: str) -> str:
    """ "HH:MM" (calling hours and slots are whole minutes; "24:00" ends a day)."""
    try:
        text = parse_time_of_day(value)
    except ValueError as exc:
        raise ConfigError(f"{where} has value {value!r}: {exc}") from None
    if len(text) > len("HH:MM"):
        raise ConfigError(f'{where} has value {value!r}: expected whole minutes, like "08:30"')
    return text


def parse_calling_hours(raw: Any, where: str) -> CallingHours:
    """Calling hours (``timezone``, ``weekdays``, ``open``, ``close``); None: always.

    Raises:
        ConfigError: naming the key, the bad value and ``where``.
    """
    raw = parse_mapping(raw or {}, where, HOURS_KEYS)
    zone = str(raw.get("timezone", "UTC"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}.timezone has value {zone!r}: unknown time zone") from None
    days = raw.get("weekdays", list(WEEKDAYS))
    if not isinstance(days, list) or any(d not in WEEKDAYS for d in days):
        raise ConfigError(f"{where}.weekdays has value {days!r}: expected names like mon, tue")
    return CallingHours(
        timezone=zone,
        weekdays=frozenset(WEEKDAYS.index(d) for d in days),
        opens=parse_clock(raw.get("open", "00:00"), f"{where}.open"),
        closes=parse_clock(raw.get("close", "24:00"), f"{where}.close"),
    )


def parse_callbacks(raw: Any, where: str, queues: set[str]) -> CallbackSettings:
    """The ``callbacks`` section; ``queues``: the names a mode may be given for.

    Raises:
        ConfigError: naming the key, the bad value and ``where``.
    """
    raw = parse_mapping(raw or {}, where, CALLBACK_KEYS)
    template = str(raw.get("number_uri") or "")
    if template and "{number}" not in template:
        raise ConfigError(f"{where}.number_uri has value {template!r}: needs {{number}}")
    modes = parse_mapping(raw.get("modes") or {}, f"{where}.modes", queues)
    for queue, mode in modes.items():
        if mode not in CALLBACK_MODES:
            raise ConfigError(
                f"{where}.modes.{queue} has value {mode!r}: expected agent_first or customer_first"
            )
    attempts = raw.get("max_attempts", 3)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise ConfigError(f"{where}.max_attempts has value {attempts!r}: expected 1 to 20")
    backoff = raw.get("backoff_seconds", [120, 600, 1800])
    if not isinstance(backoff, list) or any(
        isinstance(b, bool) or not isinstance(b, int | float) or b < 0 for b in backoff
    ):
        raise ConfigError(f"{where}.backoff_seconds has value {backoff!r}: expected seconds")
    redials = raw.get("redial_after_unknown", 1)
    if isinstance(redials, bool) or not isinstance(redials, int) or not 0 <= redials <= 5:
        raise ConfigError(
            f"{where}.redial_after_unknown has value {redials!r}: expected 0 to 5 calls"
        )
    slots = raw.get("slots") or []
    from_forecast = slots == "forecast"
    if from_forecast:
        slots = []
    if not isinstance(slots, list):
        raise ConfigError(
            f"{where}.slots has value {slots!r}: expected a list of times or forecast"
        )
    dispatcher = raw.get("dispatcher", True)
    if not isinstance(dispatcher, bool):
        raise ConfigError(f"{where}.dispatcher has value {dispatcher!r}: expected true or false")
    return CallbackSettings(
        number_uri=template,
        dispatcher=dispatcher,
        dispatch=DispatchSettings(
            modes={str(q): str(m) for q, m in modes.items()},
            max_attempts=attempts,
            backoff_seconds=tuple(float(b) for b in backoff),
            lease_seconds=parse_seconds_at(raw, "lease_seconds", where, 60.0) or 60.0,
            redial_after_unknown=redials,
            max_dialling=int(parse_seconds_at(raw, "max_dialling", where, 20)) or 1,
            hours=parse_calling_hours(raw.get("calling_hours"), f"{where}.calling_hours"),
            value=parse_value_rule(raw, where),
        ),
        slots=tuple(parse_clock(s, f"{where}.slots") for s in slots),
        slots_from_forecast=from_forecast,
        ring_timeout_seconds=parse_seconds_at(raw, "ring_timeout_seconds", where, 30.0) or 30.0,
        key_wait_seconds=parse_seconds_at(raw, "key_wait_seconds", where, 8.0) or 8.0,
    )


def parse_value_rule(raw: Mapping[str, Any], where: str) -> ValueRule:
    """The rule in ``value`` (or its older spelling ``priority``) of the ``callbacks``
    section ``raw``; none: every bonus 0 (the order of arrival).

    Raises:
        ConfigError: both spellings given, an unknown key, or a value that is not
            seconds (0 or more), naming the key, the value and ``where``.
    """
    if raw.get("value") is not None and raw.get("priority") is not None:
        raise ConfigError(
            f"{where}: give value or its older spelling priority, not both "
            f"(value has {raw['value']!r}, priority has {raw['priority']!r})"
        )
    name = "priority" if raw.get("priority") is not None else "value"
    section = f"{where}.{name}"
    rule = parse_mapping(raw.get(name), section, VALUE_KEYS)
    listed = rule.get("intents")
    names = set(listed) if isinstance(listed, Mapping) else set()
    intents = parse_mapping(listed, f"{section}.intents", names)
    for intent in intents:
        if not isinstance(intent, str) or not intent.strip():
            raise ConfigError(f"{section}.intents has key {intent!r}: expected an intent name")
    return ValueRule(
        vip_seconds=parse_seconds_at(rule, "vip_seconds", section, 0.0),
        intent_seconds={
            intent: parse_seconds_at(intents, intent, f"{section}.intents", 0.0)
            for intent in intents
        },
        per_failed_attempt_seconds=parse_seconds_at(
            rule, "per_failed_attempt_seconds", section, 0.0
        ),
    )
