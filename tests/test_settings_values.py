"""The shared setting parsers: one reading of a time of day and of a settings section
for every package, and errors that name key, value and source."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import load_config
from ivr.config_values import parse_mapping, parse_time_of_day
from ivr.exceptions import ConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("08:30", "08:30"),
        ("8:30", "08:30"),
        (1110, "18:30"),  # YAML 1.1 reads an unquoted 18:30 as the sexagesimal 1110
        (0, "00:00"),
        ("24:00", "24:00"),
        ("23:59:59.999", "23:59:59.999"),
    ],
)
def test_a_time_of_day_is_read_from_text_or_yaml_sexagesimal(value: object, expected: str) -> None:
    assert parse_time_of_day(value) == expected


@pytest.mark.parametrize("value", ["25:00", "24:01", "08:60", "1830", "noon", True, 1441, None])
def test_a_time_of_day_outside_the_day_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="time of day"):
        parse_time_of_day(value)


def test_a_section_with_an_unknown_key_names_it_the_known_ones_and_the_place() -> None:
    with pytest.raises(ConfigError, match=r"ivr.yaml: queues.q: unknown setting 'colour' \(known"):
        parse_mapping({"colour": "red"}, "ivr.yaml: queues.q", {"transfer"})
    assert parse_mapping(None, "ivr.yaml: queues.q", {"transfer"}) == {}


def test_unquoted_calling_hours_read_like_quoted_ones(tmp_path: Path) -> None:
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text("callbacks:\n  calling_hours: {open: '08:30', close: '18:30'}\n")
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text("callbacks:\n  calling_hours: {open: 08:30, close: 18:30}\n")
    hours = load_config(unquoted, env={}).contact_center.callbacks.dispatch.hours
    assert (hours.opens, hours.closes) == ("08:30", "18:30")
    assert hours == load_config(quoted, env={}).contact_center.callbacks.dispatch.hours


def test_a_bad_registration_interval_names_the_key_the_value_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ivr.yaml"
    path.write_text(
        "sip:\n  accounts:\n    - {user: '7000', domain: pbx.example.com, reg_interval: often}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == (
        f"{path}: sip.accounts[0].reg_interval has value 'often': "
        "expected a whole number of seconds"
    )
