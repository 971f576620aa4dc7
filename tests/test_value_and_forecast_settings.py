"""``callbacks.value`` (most valuable first) and ``forecast`` in ivr.yaml: read into the
dispatcher's rule and the forecast's settings, and a bad key or value named with the
file it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from callback.value import ValueRule
from ivr.config import load_config
from ivr.exceptions import ConfigError
from ivr.forecast.settings import ForecastSettings

REPO = Path(__file__).resolve().parents[1]


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ivr.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("callbacks", "error"),
    [
        (
            "value: {vip_second: 600}",
            "callbacks.value: unknown setting 'vip_second' "
            "(known: intents, per_failed_attempt_seconds, vip_seconds)",
        ),
        ("value: {vip_seconds: lots}", "callbacks.value.vip_seconds has value 'lots'"),
        (
            "value: {per_failed_attempt_seconds: -60}",
            "callbacks.value.per_failed_attempt_seconds has value -60: expected seconds",
        ),
        (
            "value: {intents: {password_reset: soon}}",
            "callbacks.value.intents.password_reset has value 'soon'",
        ),
        (
            "value: {intents: [password_reset]}",
            "callbacks.value.intents has value ['password_reset']: expected a mapping",
        ),
        ("value: 600", "callbacks.value has value 600: expected a mapping"),
        (
            "value: {vip_seconds: 600}\n  priority: {vip_seconds: 120}",
            "callbacks: give value or its older spelling priority, not both",
        ),
        ("priority: {vip_secs: 120}", "callbacks.priority: unknown setting 'vip_secs'"),
    ],
)
def test_a_bad_callbacks_value_setting_is_named_with_its_file(
    tmp_path: Path, callbacks: str, error: str
) -> None:
    path = config_file(tmp_path, f"callbacks:\n  {callbacks}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    assert str(raised.value).startswith(f"{path}: {error}"), str(raised.value)


def test_the_value_rule_reaches_the_dispatcher_and_the_older_priority_still_counts(
    tmp_path: Path,
) -> None:
    path = config_file(
        tmp_path,
        "callbacks:\n"
        "  value:\n"
        "    vip_seconds: 600\n"
        "    intents: {password_reset: 120, printer: 0}\n"
        "    per_failed_attempt_seconds: 60\n",
    )
    rule = load_config(path, env={}).contact_center.callbacks.dispatch.value
    assert rule == ValueRule(600.0, {"password_reset": 120.0, "printer": 0.0}, 60.0)

    config_file(tmp_path, "callbacks:\n  priority: {vip_seconds: 120, intents: {}}\n")
    older = load_config(path, env={}).contact_center.callbacks.dispatch.value
    assert older == ValueRule(vip_seconds=120.0)

    config_file(tmp_path, "callbacks: {}\n")
    assert load_config(path, env={}).contact_center.callbacks.dispatch.value == ValueRule()
    shipped = load_config(REPO / "ivr.yaml", env={}).contact_center.callbacks.dispatch.value
    assert shipped == ValueRule(), "the shipped config keeps the order of arrival"


def test_forecast_settings_are_read_from_the_file(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        "callbacks:\n  calling_hours: {timezone: Asia/Shanghai}\n"
        "forecast:\n  weeks: 6\n  adjust_prior_calls: 5\n  max_adjust: 3\n"
        "  backtest_days: 14\n  break_minutes: 30\n",
    )
    config = load_config(path, env={})
    settings = ForecastSettings.from_contact_center(config.contact_center, config.forecast)
    assert settings.timezone == "Asia/Shanghai", "the calling hours' zone without its own"
    assert (settings.weeks, settings.adjust_prior_calls, settings.max_adjust) == (6, 5.0, 3.0)
    assert (settings.backtest_days, settings.break_minutes) == (14, 30.0)

    config_file(tmp_path, "forecast:\n  timezone: Europe/Berlin\n")
    config = load_config(path, env={})
    settings = ForecastSettings.from_contact_center(config.contact_center, config.forecast)
    assert settings.timezone == "Europe/Berlin"
    assert (settings.weeks, settings.backtest_days, settings.break_minutes) == (4, 7, 15.0)


@pytest.mark.parametrize(
    ("forecast", "error"),
    [
        ("weeks: 0", "forecast.weeks has value 0: expected a whole number from 1 to 52"),
        ("weeks: 2.5", "forecast.weeks has value 2.5: expected a whole number from 1 to 52"),
        ("max_adjust: 0.5", "forecast.max_adjust has value 0.5: expected a number from 1 to 100"),
        ("break_minutes: long", "forecast.break_minutes has value 'long': expected a number"),
        ("backtest_days: -1", "forecast.backtest_days has value -1: expected a whole number"),
        ("timezone: Mars/Olympus", "forecast.timezone has value 'Mars/Olympus': unknown time"),
        ("wekks: 4", "unknown setting 'forecast.wekks'"),
    ],
)
def test_a_bad_forecast_setting_is_named_with_its_file(
    tmp_path: Path, forecast: str, error: str
) -> None:
    path = config_file(tmp_path, f"forecast:\n  {forecast}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    assert str(raised.value).startswith(f"{path}: {error}"), str(raised.value)
