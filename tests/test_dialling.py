"""The dialling policy and the agent/queue settings it is configured from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.agents.settings import DiallingSettings
from ivr.config import load_config
from ivr.dialling import DialPolicy
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
