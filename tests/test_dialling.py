"""The dialling policy and the agent/queue settings it is configured from."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml
from support.harness import free_port

from ivr.agents.dialling import DialCounters, DialPolicy
from ivr.agents.settings import DiallingSettings, parse_contact_center
from ivr.config import load_config
from ivr.exceptions import ConfigError, DialRefused

POLICY = DialPolicy(
    DiallingSettings(
        (re.compile(r"^sip:6\d{3}@pbx\.example\.com$"),), "sip:{extension}@pbx.example.com"
    )
)


@pytest.mark.parametrize(
    ("target", "normalised"),
    [
        ("sip:6001@pbx.example.com", "sip:6001@pbx.example.com"),
        ("<SIP:6001@PBX.example.com;transport=tcp>", "sip:6001@pbx.example.com"),
        ("sip:6%30%301@pbx.example.com", "sip:6001@pbx.example.com"),
        ("sip:6-0 0-1@pbx.example.com?Subject=x", "sip:6001@pbx.example.com"),
    ],
)
def test_allowed_targets_are_normalised(target: str, normalised: str) -> None:
    assert POLICY.check(target) == normalised


@pytest.mark.parametrize(
    "target",
    [
        "sip:9001@pbx.example.com",  # not an agent extension
        "sip:6001@pbx.example.com.evil.net",
        "sip:6001@evil.net;x=@pbx.example.com",
        "sip:60011@pbx.example.com",
        "tel:+8610555501",
        "http://pbx.example.com/6001",
        "sip:@pbx.example.com",
    ],
)
def test_targets_outside_the_patterns_are_refused(target: str) -> None:
    with pytest.raises(DialRefused):
        POLICY.check(target)


def test_nothing_is_dialled_without_patterns() -> None:
    with pytest.raises(DialRefused, match="no dialling.allow patterns"):
        DialPolicy(DiallingSettings()).check("sip:6001@pbx.example.com")


def test_extensions_must_be_numbers() -> None:
    assert POLICY.uri_for_extension("6002") == "sip:6002@pbx.example.com"
    with pytest.raises(DialRefused):
        POLICY.uri_for_extension("6002@evil.net")


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("agents: [{id: a1, uri: 'sip:1@x', queues: [nope]}]\n", "names 'nope'"),
        ("agents: [{id: 'a b', uri: 'sip:1@x'}]\n", "agents[0].id has value 'a b'"),
        ("agents: [{id: a1, extension: '6001'}]\n", "needs dialling.extension_uri"),
        ("queues: {q: {transfer: hold}}\n", "queues.q.transfer has value 'hold'"),
        ("queues: {q: {ring_timeout_seconds: -1}}\n", "ring_timeout_seconds has value -1"),
        ("queues: {q: {colour: red}}\n", "unknown setting 'colour'"),
        ("dialling: {allow: ['(']}\n", "dialling.allow has value '('"),
        ("agents: [{id: a, uri: 'sip:1@x'}, {id: a, uri: 'sip:2@x'}]\n", "listed twice"),
    ],
)
def test_bad_agent_and_queue_settings_name_the_setting(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    config = tmp_path / "ivr.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        load_config(config, env={})
    assert str(config) in str(error.value)


def _limited(shared_redis_url: str, limits: str) -> tuple[DialPolicy, aioredis.Redis]:
    raw = yaml.safe_load("allow: ['^sip:\\+?\\d+@pbx\\.example\\.com$']\nlimits:\n" + limits)
    settings = parse_contact_center({"dialling": raw}, "test").dialling
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    prefix = f"ivrtest:dialling:{uuid.uuid4().hex[:8]}:"
    return DialPolicy(settings, DialCounters(client, prefix)), client


SATURDAY_NOON = datetime(2023, 11, 18, 12, tzinfo=UTC).timestamp()
MONDAY_NINE = datetime(2023, 11, 20, 9, tzinfo=UTC).timestamp()


async def test_per_number_and_per_day_caps_refuse_past_them(shared_redis_url: str) -> None:
    policy, client = _limited(
        shared_redis_url,
        "  - {match: '^sip:\\+?\\d{7,}@', per_number_per_day: 2, per_day: 3}\n",
    )
    number, other, third = (
        f"sip:{n}@pbx.example.com" for n in ("13800000001", "13800000002", "13800000003")
    )
    try:
        assert await policy.admit(number, MONDAY_NINE) == number
        assert await policy.admit(number, MONDAY_NINE) == number
        with pytest.raises(DialRefused, match="dialled 2 times today"):
            await policy.admit(number, MONDAY_NINE)
        assert await policy.admit(other, MONDAY_NINE) == other
        with pytest.raises(DialRefused, match="3 dials today"):
            await policy.admit(third, MONDAY_NINE)
        assert await policy.admit(third, MONDAY_NINE + 86400) == third, "a new day, new counts"
        assert await policy.admit("sip:6001@pbx.example.com", MONDAY_NINE), "extensions: no cap"
    finally:
        await client.aclose()


async def test_allowed_hours_refuse_outside_them(shared_redis_url: str) -> None:
    policy, client = _limited(
        shared_redis_url,
        "  - match: '^sip:\\+?\\d{7,}@'\n"
        "    hours: {weekdays: [mon, tue, wed, thu, fri], open: '08:00', close: '20:00'}\n",
    )
    number = "sip:13800000001@pbx.example.com"
    try:
        with pytest.raises(DialRefused, match="may not be dialled at this hour"):
            await policy.admit(number, SATURDAY_NOON)
        assert await policy.admit(number, MONDAY_NINE) == number
    finally:
        await client.aclose()


async def test_capped_targets_are_refused_while_the_counters_are_away() -> None:
    raw = yaml.safe_load(
        "allow: ['^sip:\\d+@pbx\\.example\\.com$']\nlimits: [{match: '', per_day: 100}]\n"
    )
    settings = parse_contact_center({"dialling": raw}, "test").dialling
    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    policy = DialPolicy(settings, DialCounters(client, "ivrtest:"))
    try:
        with pytest.raises(DialRefused, match="counters unavailable"):
            await policy.admit("sip:13800000001@pbx.example.com")
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ("[{match: '(', per_day: 1}]", "dialling.limits[0].match has value '('"),
        ("[{match: '', per_day: -1}]", "dialling.limits[0].per_day has value -1"),
        ("[{match: '', hours: {open: '25:00'}}]", "dialling.limits[0].hours.open"),
        ("[{match: '', every: 1}]", "dialling.limits[0]: unknown setting 'every'"),
    ],
)
def test_bad_dialling_limits_name_the_setting(limits: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_contact_center({"dialling": yaml.safe_load(f"limits: {limits}")}, "test")
