"""Which config file the ``ivr`` command reads, run from inside a checkout.

Each file below sets a different bad ``log_level``, so ``ivr serve`` stops at
once naming the file it read (the error names key, value and source)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A folder like a checkout: an ``ivr.yaml`` beside where the command runs."""
    (tmp_path / "ivr.yaml").write_text("log_level: FROM_CHECKOUT\n")
    (tmp_path / "elsewhere.yaml").write_text("log_level: FROM_IVR_CONFIG\n")
    (tmp_path / "flag.yaml").write_text("log_level: FROM_FLAG\n")
    return tmp_path


def serve_error(cwd: Path, *args: str, ivr_config: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    if ivr_config is not None:
        env["IVR_CONFIG"] = ivr_config
    done = subprocess.run(
        [sys.executable, "-m", "ivr", "serve", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    return done.stderr


def test_ivr_config_wins_over_the_checkouts_ivr_yaml(checkout: Path) -> None:
    error = serve_error(checkout, ivr_config=str(checkout / "elsewhere.yaml"))
    assert "elsewhere.yaml: log_level has value 'FROM_IVR_CONFIG'" in error


def test_the_config_flag_wins_over_ivr_config(checkout: Path) -> None:
    error = serve_error(
        checkout, "--config", "flag.yaml", ivr_config=str(checkout / "elsewhere.yaml")
    )
    assert "flag.yaml: log_level has value 'FROM_FLAG'" in error


def test_without_ivr_config_the_checkouts_ivr_yaml_is_read(checkout: Path) -> None:
    error = serve_error(checkout, ivr_config=None)
    assert "ivr.yaml: log_level has value 'FROM_CHECKOUT'" in error


def test_an_empty_ivr_config_counts_as_unset(checkout: Path) -> None:
    error = serve_error(checkout, ivr_config="")
    assert "ivr.yaml: log_level has value 'FROM_CHECKOUT'" in error
