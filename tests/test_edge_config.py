"""The edge's Kamailio config as written from ours: the template shipped as package
data, Kamailio's modules found on any architecture, and the per-worker call limit."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from ivr.config_values import HostPort
from ivr.edge.front import FrontConfig, Worker, parse_worker
from ivr.edge.kamailio import find_kamailio, modules_dir
from ivr.edge.render import TEMPLATE_NAME, dispatcher_list, write_config
from ivr.telephony.limits import MAX_CALLS_PER_WORKER

REPO = Path(__file__).resolve().parent.parent


def _front(*max_calls: int) -> FrontConfig:
    workers = tuple(
        Worker(f"w{i}", HostPort("127.0.0.1", 5071 + i), calls) for i, calls in enumerate(max_calls)
    )
    return FrontConfig(HostPort("127.0.0.1", 5070), ("udp", "tcp"), workers)


def test_the_config_template_is_package_data_an_install_carries() -> None:
    assert resources.files("ivr.edge").joinpath(TEMPLATE_NAME).is_file()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    assert TEMPLATE_NAME in package_data["ivr.edge"]


def test_written_config_loads_its_modules_from_where_kamailio_keeps_them(tmp_path: Path) -> None:
    binary = find_kamailio()
    modules = modules_dir(binary)
    assert (modules / "dispatcher.so").is_file()
    config = write_config(_front(250, 250), tmp_path, binary)  # kamailio -c accepts it
    assert f'mpath="{modules}"' in config.read_text()


def test_a_binary_that_names_no_module_directory_still_finds_the_installed_modules(
    tmp_path: Path,
) -> None:
    silent = tmp_path / "kamailio"
    silent.write_text("#!/bin/sh\nexit 0\n")
    silent.chmod(0o755)
    assert (modules_dir(silent) / "tm.so").is_file()


def test_each_worker_takes_at_most_what_one_sip_stack_carries() -> None:
    listing = dispatcher_list(_front(MAX_CALLS_PER_WORKER, 10))
    assert f"maxload={MAX_CALLS_PER_WORKER} w0" in listing
    assert "maxload=10 w1" in listing
    assert _front(MAX_CALLS_PER_WORKER, 10).policy().max_calls == MAX_CALLS_PER_WORKER + 10
    with pytest.raises(ValueError, match=f"between 1 and {MAX_CALLS_PER_WORKER}"):
        parse_worker("w1=10.0.0.11:5060", MAX_CALLS_PER_WORKER + 1)
