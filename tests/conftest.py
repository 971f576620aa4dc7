"""The tests' support is a plugin, ``tests/support`` (see its ``__init__``): fixtures
for the real peers there, helpers imported from its modules."""

from __future__ import annotations

# test_simulator.py and test_dialplan_loader.py still import these from here.
from support.harness import REPO as REPO
from support.service import run_ivr as run_ivr

pytest_plugins = ["support.fixtures"]
