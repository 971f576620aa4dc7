"""The tests' support is a plugin, ``tests/support`` (see its ``__init__``): fixtures
for the real peers there, helpers imported from its modules."""

from __future__ import annotations

# Kept for importers not yet moved to support.*: the benchmarks (bench/*.py put tests/
# on sys.path and import these from here) and test_simulator.py, test_dialplan_loader.py.
from support.databases import MACHINE_POSTGRES_ADMIN_URL
from support.databases import postgres_answers as postgres_answers
from support.harness import REPO as REPO
from support.harness import free_port as free_port
from support.harness import wait_until as wait_until
from support.service import machine_redis_url as machine_redis_url
from support.service import run_ivr as run_ivr
from support.service import start_service as start_service
from support.sipp import finish_sipp as finish_sipp
from support.sipp import run_sipp as run_sipp
from support.sipp import start_sipp as start_sipp

POSTGRES_ADMIN_URL = MACHINE_POSTGRES_ADMIN_URL

pytest_plugins = ["support.fixtures"]
