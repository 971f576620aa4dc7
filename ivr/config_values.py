"""Setting values from text: host:port, durations, times of day, ranges, choices, mappings.

A leaf module: it imports nothing of the project but its exceptions, so every
package's settings can use it. Each ``parse_*`` takes what YAML or the environment
gave and returns the typed value, or raises ValueError with what was expected; the
caller adds the setting's name, the value and where it came from.
:func:`parse_mapping` checks a section and raises ConfigError itself, as it is
given the section's place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.exceptions import ConfigError

SIP_TRANSPORTS = ("udp", "tcp")


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_host_port(text: str) -> HostPort:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError("expected HOST:PORT")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("port must be a number from 1 to 65535")
    return HostPort(host.strip("[]"), int(port))


def parse_sip_listen(text: str) -> HostPort:
    listen = parse_host_port(text)
    if listen.host in ("0.0.0.0", "::"):
        raise ValueError(
            "give the address the PBX reaches (e.g. 10.0.0.5:5060); the SIP stack puts it "
            "in every SDP, so a wildcard address cannot work"
        )
    return listen


def parse_transports(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("expected a list of transports")
    names = tuple(str(i).strip().lower() for i in items)
    for name in names:
        if name not in SIP_TRANSPORTS:
            raise ValueError(f"unknown transport {name!r} (known: {', '.join(SIP_TRANSPORTS)})")
    return names


def parse_positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    number = int(value)
    if number < 1:
        raise ValueError("must be 1 or more")
    return number


def parse_seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds")
    number = float(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def parse_seconds_at(raw: Mapping[str, Any], key: str, where: str, default: float) -> float:
    """``raw[key]`` (``default`` when absent) as seconds, 0 or more; ``where`` names the
    section and its source, e.g. ``"ivr.yaml: callbacks"``.

    Raises:
        ConfigError: naming ``where.key`` and the bad value.
    """
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{key} has value {value!r}: expected seconds, 0 or more")
    return float(value)


def whole_number_between(low: int, high: int) -> Callable[[Any], int]:
    """A parser of whole numbers from ``low`` to ``high`` (YAML's or the environment's)."""

    def parse(value: Any) -> int:
        expected = f"expected a whole number from {low} to {high}"
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(expected)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(expected) from None
        if not low <= number <= high:
            raise ValueError(expected)
        return number

    return parse


def number_between(low: float, high: float) -> Callable[[Any], float]:
    """A parser of numbers from ``low`` to ``high`` (YAML's or the environment's)."""

    def parse(value: Any) -> float:
        expected = f"expected a number from {low:g} to {high:g}"
        if isinstance(value, bool):
            raise ValueError(expected)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(expected) from None
        if not low <= number <= high:  # NaN fails too
            raise ValueError(expected)
        return number

    return parse


def parse_timezone(value: Any) -> str:
    """An IANA time zone name, e.g. ``Europe/Berlin``."""
    text = parse_text(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone (expected a name like Europe/Berlin)") from None
    return text


def parse_text(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise ValueError("expected non-empty text")
    return str(value)


def parse_url(value: Any) -> str:
    text = parse_text(value)
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1]) == 0:
        raise ValueError("expected an http:// or https:// URL")
    return text


def parse_percent(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number from 0 to 100")
    number = int(value)
    if not 0 <= number <= 100:
        raise ValueError("expected a whole number from 0 to 100")
    return number


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_port_range(value: Any) -> tuple[int, int]:
    low, sep, high = str(value).replace(" ", "").partition("-")
    if not sep or not low.isdigit() or not high.isdigit():
        raise ValueError("expected a range like 10000-19999")
    first, last = int(low), int(high)
    if not 1024 <= first < last <= 65535 or last - first < 3:
        raise ValueError("expected FIRST-LAST within 1024-65535, at least 4 ports")
    return first, last


MEDIA_ENCRYPTIONS = ("none", "srtp", "srtp_mandatory", "dtls_srtp")


def parse_media_encryption(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in MEDIA_ENCRYPTIONS:
        raise ValueError(f"expected one of {', '.join(MEDIA_ENCRYPTIONS)}")
    return text


def parse_days(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number of days")
    days = float(value)
    if not 0 <= days <= 36500:
        raise ValueError("expected days from 0 (keep for good) to 36500")
    return days


def parse_log_level(value: Any) -> str:
    level = str(value).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


def parse_path(value: Any) -> Path:
    """A path as written; the loader resolves a relative one (see ivr.config)."""
    return Path(parse_text(value))


def parse_mapping(value: Any, where: str, known: Collection[str]) -> Mapping[str, Any]:
    """A section of settings: a mapping whose keys are all in ``known``; None is empty.

    ``where`` names the section and its source, e.g. ``"ivr.yaml: sip.admission"``.

    Raises:
        ConfigError: the value is not a mapping, or names a key not in ``known``.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} has value {value!r}: expected a mapping")
    unknown = sorted((str(key) for key in value if key not in known), key=str)
    if unknown:
        listed = f" (known: {', '.join(sorted(known))})" if known else ""
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}{listed}")
    return value


END_OF_DAY = "24:00"
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?")


def parse_time_of_day(value: Any) -> str:
    """A time of day as ISO text: ``"HH:MM"``, or ``"HH:MM:SS[.ffffff]"`` when seconds
    are given; ``"24:00"`` is the end of a day.

    Takes ``"8:30"``, ``"08:30"``, ``"23:59:59.999"``, and a whole number of minutes:
    YAML 1.1 reads an unquoted ``18:30`` as the sexagesimal integer 1110.

    Raises:
        ValueError: not a time of day from 00:00 to 24:00.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 24 * 60:
        value = f"{value // 60:02d}:{value % 60:02d}"
    match = _TIME_OF_DAY.fullmatch(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError('expected a time of day like "08:30"')
    hours, minutes, seconds, fraction = match.groups()
    if int(minutes) > 59 or (seconds is not None and int(seconds) > 59):
        raise ValueError('expected a time of day like "08:30"')
    if int(hours) == 24 and (int(minutes), int(seconds or 0), fraction) == (0, 0, None):
        return END_OF_DAY
    if int(hours) > 23:
        raise ValueError('expected a time of day from 00:00 to 24:00, like "08:30"')
    text = f"{int(hours):02d}:{minutes}"
    return text if seconds is None else f"{text}:{seconds}{fraction or ''}"
