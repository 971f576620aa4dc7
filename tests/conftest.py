"""The tests' support is a plugin, ``tests/support`` (see its ``__init__``): fixtures
for the real peers there, helpers imported from its modules."""

from __future__ import annotations

pytest_plugins = ["support.fixtures"]
