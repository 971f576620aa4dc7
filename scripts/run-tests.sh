#!/usr/bin/env bash
# `make test`: the suite in parallel (pytest-xdist, each test module whole in one of
# TEST_WORKERS processes; the tests' ports come from a slice per process), then the
# tests marked `serial` on their own: they measure a node at its capacity, so no other
# test may take their cores. Arguments go to both pytest runs.
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
workers=${TEST_WORKERS:-3}

run() {
    "$PY" -m pytest "$@"
    local status=$?
    [ "$status" -eq 5 ] && status=0  # the arguments chose no test of this part
    return "$status"
}

run -n "$workers" --dist loadfile -m "not serial" "$@"
parallel=$?
run -m serial "$@"
serial=$?
exit $(( parallel || serial ))
