"""The one dialling policy: every outbound call and every REFER target passes here.

A target is allowed only when its normalised URI matches one of the configured
``dialling.allow`` patterns; with none configured, nothing is dialled. Right
before a dial or a REFER, :meth:`DialPolicy.admit` also applies the
``dialling.limits`` whose ``match`` selects the target: allowed hours, dials
of one number a day, dials of all a day (counted in Redis, shared by every
worker; with Redis away a capped target is refused: a brake that cannot count
does not let go). This is what keeps a dial plan, an API call or a caller's
input from turning the service into a toll-fraud tool.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import Protocol
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.agents.settings import DialLimit, DiallingSettings
from ivr.exceptions import DialRefused
from ivr.state import keys
from ivr.telephony.interface import Call

log = logging.getLogger(__name__)


class Dialler(Protocol):
    async def dial(self, uri: str, timeout: float = 30.0) -> Call: ...


_VISUAL_SEPARATORS = re.compile(r"[\s\-().]")


def normalise_target(target: str) -> str:
    """``sip:user@host[:port]`` with the scheme lower-cased, the user part unescaped
    and stripped of visual separators, and URI parameters and headers dropped."""
    text = target.strip().strip("<>")
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips", "tel"):
        raise DialRefused(f"{target!r} is not a sip:, sips: or tel: URI")
    rest = re.split(r"[;?>]", rest, maxsplit=1)[0]
    user, at, host = rest.rpartition("@")
    if not at:
        user, host = rest, ""
    user = _VISUAL_SEPARATORS.sub("", unquote(user))
    if not user or any(c in user for c in "@:<>\"' "):
        raise DialRefused(f"{target!r} has no usable user part")
    return f"{scheme.lower()}:{user}@{host.lower()}" if host else f"{scheme.lower()}:{user}"


# Count a dial under both caps, or under neither: KEYS number, day; ARGV caps, TTL.
_COUNT = """
local number = redis.call('INCR', KEYS[1])
local day = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local per_number, per_day = tonumber(ARGV[1]), tonumber(ARGV[2])
if (per_number > 0 and number > per_number) or (per_day > 0 and day > per_day) then
  redis.call('DECR', KEYS[1])
  redis.call('DECR', KEYS[2])
  if per_number > 0 and number > per_number then return -1 end
  return -2
end
return 1
"""
COUNTER_TTL_SECONDS = 2 * 86400


class DialCounters:
    """Dials per target and per limit per day, in Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._prefix = prefix
        self._count = client.register_script(_COUNT)

    async def count(self, index: int, limit: DialLimit, uri: str, day: str) -> str | None:
        """Count one dial; the reason when a cap refuses it (then nothing is counted)."""
        result = await self._count(
            keys=[
                keys.dials_of_number(self._prefix, day, index, uri),
                keys.dials_of_day(self._prefix, day, index),
            ],
            args=[limit.per_number_per_day, limit.per_day, COUNTER_TTL_SECONDS],
        )
        if int(result) == -1:
            return f"{uri} was dialled {limit.per_number_per_day} times today (per_number_per_day)"
        if int(result) == -2:
            return f"{limit.per_day} dials today under limit {index} (per_day)"
        return None


class DialPolicy:
    def __init__(self, settings: DiallingSettings, counters: DialCounters | None = None) -> None:
        self._allow = settings.allow
        self._extension_uri = settings.extension_uri
        self._limits = settings.limits
        self._counters = counters

    async def admit(self, target: str, now: float | None = None) -> str:
        """:meth:`check`, then the limits: the normalised target when it may be dialled
        now; counted as dialled.

        Raises:
            DialRefused: with the reason; also logged.
        """
        uri = self.check(target)
        moment = time.time() if now is None else now
        for index, limit in enumerate(self._limits):
            if not limit.match.search(uri):
                continue
            reason = await self._limit_refusal(index, limit, uri, moment)
            if reason is not None:
                log.warning("dial refused: %s", reason)
                raise DialRefused(reason)
        return uri

    async def _limit_refusal(
        self, index: int, limit: DialLimit, uri: str, moment: float
    ) -> str | None:
        zone = limit.hours.timezone if limit.hours is not None else "UTC"
        if limit.hours is not None and not limit.hours.contains(moment):
            return f"{uri} may not be dialled at this hour (dialling.limits[{index}].hours, {zone})"
        if not (limit.per_number_per_day or limit.per_day):
            return None
        if self._counters is None:
            return f"{uri}: dial counters are not set up (dialling.limits[{index}])"
        day = datetime.fromtimestamp(moment, ZoneInfo(zone)).strftime("%Y-%m-%d")
        try:
            return await self._counters.count(index, limit, uri, day)
        except (RedisError, OSError) as exc:
            return f"{uri}: dial counters unavailable ({exc}); capped targets wait for Redis"

    def uri_for_extension(self, extension: str) -> str:
        """The URI of a PBX extension (``dialling.extension_uri``), checked.

        Raises:
            DialRefused: no extension template, a malformed extension, or not allowed.
        """
        if not self._extension_uri:
            raise DialRefused("dialling.extension_uri is not configured")
        if not re.fullmatch(r"[0-9*#+]{1,32}", extension):
            raise DialRefused(f"extension {extension!r} is not a dialable number")
        return self.check(self._extension_uri.format(extension=extension))

    def check(self, target: str) -> str:
        """The normalised target when it may be dialled or referred to.

        Raises:
            DialRefused: with the reason; also logged.
        """
        try:
            uri = normalise_target(target)
        except DialRefused as exc:
            log.warning("dial refused: %s", exc)
            raise
        if not any(pattern.search(uri) for pattern in self._allow):
            reason = (
                f"{uri} matches no dialling.allow pattern"
                if self._allow
                else f"{uri} refused: no dialling.allow patterns are configured"
            )
            log.warning("dial refused: %s", reason)
            raise DialRefused(reason)
        return uri


class PolicedDialler:
    """A dialler whose every dial is admitted by the policy first (limits counted)."""

    def __init__(self, dialler: Dialler, policy: DialPolicy) -> None:
        self._dialler = dialler
        self._policy = policy

    async def dial(self, uri: str, timeout: float = 30.0) -> Call:
        """Raises DialRefused (a TelephonyError) when the policy refuses ``uri``."""
        return await self._dialler.dial(await self._policy.admit(uri), timeout)
