"""The settings table: the loader reads every variable it declares, the config
dataclasses hold nothing it leaves out, and the README's table is generated from it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Config, HostPort, load_config
from ivr.config_reference import END, START, default_text, reference_table, with_reference
from ivr.config_table import SETTINGS, Setting
from ivr.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[1]
# Parsed by their packages' settings modules, not scalar settings.
STRUCTURED = {"sip.accounts", "sip.admission", "sip.tls", "contact_center", "api", "helpdesk"}
TEXT_SAMPLES = ("DEBUG", "srtp", "https://example.com/hook", "redis://cache:6379/1", "other")


def configured(config: Config, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def other_value(setting: Setting[Any]) -> tuple[str, Any]:
    """Text for the setting's variable that parses to something other than its default."""
    default = setting.default
    if isinstance(default, bool):
        candidates = ["false" if default else "true"]
    elif isinstance(default, int | float):
        candidates = [str(default + 1)]
    elif isinstance(default, HostPort):
        candidates = [f"{default.host}:{default.port + 1}"]
    elif isinstance(default, Path):
        candidates = ["/srv/ivr-elsewhere"]
    elif isinstance(default, tuple):
        candidates = ["udp", "20000-20010"]
    else:  # text, or a number with no default (None)
        candidates = [*TEXT_SAMPLES, "4"]
    for text in candidates:
        try:
            value = setting.parse(text)
        except ValueError:
            continue
        if value != default:
            return text, value
    raise AssertionError(f"no sample value for {setting.key}")


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.env], ids=lambda s: s.env)
def test_the_loader_reads_every_variable_the_table_declares(setting: Setting[Any]) -> None:
    text, value = other_value(setting)
    config = load_config(None, env={str(setting.env): text})
    assert configured(config, setting.key) == value
    assert configured(load_config(None, env={}), setting.key) != value


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_the_documented_default_is_what_applies(setting: Setting[Any]) -> None:
    if setting.shown_default is None and setting.default is not None:
        assert setting.parse(default_text(setting.default)) == setting.default
    loaded = configured(load_config(None, env={}), setting.key)
    if isinstance(setting.default, Path):  # relative: from the working directory
        assert loaded == Path.cwd() / setting.default
    elif setting.key == "storage.database_url":  # a relative SQLite file, the same
        assert loaded == f"sqlite:///{Path.cwd() / 'var/tickets.db'}"
    elif setting.key != "worker_id":  # filled in with <host>-<pid>
        assert loaded == setting.default


def test_every_scalar_setting_of_the_config_is_in_the_table() -> None:
    def keys(instance: Any, prefix: str) -> set[str]:
        found = set()
        for item in dataclasses.fields(instance):
            key = prefix + item.name
            value = getattr(instance, item.name)
            if key in STRUCTURED:
                continue
            if dataclasses.is_dataclass(value) and not isinstance(value, HostPort):
                found |= keys(value, key + ".")
            else:
                found.add(key)
        return found

    assert keys(Config(), "") == {s.key for s in SETTINGS}


def test_a_file_setting_from_the_table_is_read_and_a_bad_one_named(tmp_path: Path) -> None:
    path = tmp_path / "ivr.yaml"
    path.write_text("sip:\n  rtp_ports: 20000-20100\nprivacy:\n  sweep_interval_seconds: 60\n")
    config = load_config(path, env={})
    assert (config.sip.rtp_ports, config.privacy.sweep_interval_seconds) == ((20000, 20100), 60.0)
    path.write_text("privacy:\n  sweep_interval: 60\n")
    with pytest.raises(ConfigError, match="unknown setting 'privacy.sweep_interval'"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="environment variable IVR_RTP_PORTS has value '5-6'"):
        load_config(None, env={"IVR_RTP_PORTS": "5-6"})


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert START in readme and END in readme, "README.md lacks the settings table's markers"
    shown = readme[readme.index(START) + len(START) : readme.index(END)].strip("\n")
    assert shown == reference_table().strip("\n"), (
        "README.md's settings table is out of step with ivr/config_table.py: run "
        "`ivr config reference --readme README.md`"
    )
    for variable in ("IVR_RTP_PORTS", "IVR_MEDIA_ENCRYPTION", "IVR_REDIS_DATA_DIR"):
        assert f"| `{variable}` |" in shown
    for variable in ("IVR_MASK_LOGS", "IVR_PRIVACY_SWEEP_SECONDS", "IVR_CONFIG"):
        assert f"| `{variable}` |" in shown


def test_the_command_rewrites_a_stale_table_and_leaves_the_rest(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Intro\n\n{START}\n| stale |\n{END}\n\n## Next\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ivr", "config", "reference", "--readme", str(readme)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = readme.read_text(encoding="utf-8")
    assert text == with_reference(f"# Intro\n\n{START}\n{END}\n\n## Next\n")
    assert "| stale |" not in text and text.startswith("# Intro") and text.endswith("## Next\n")
