#!/usr/bin/env bash
# `make test`: the suite in parallel (pytest-xdist, each test module whole in one of
# TEST_WORKERS processes; the tests' ports come from a slice per process), then the
# tests marked `serial` on their own: they load or time a whole node, so no other test
# may take their cores. Arguments go to both pytest runs (not `-m`: each run has its own).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
workers=${TEST_WORKERS:-3}

"$PY" -m pytest -n "$workers" --dist loadfile -m "not serial" "$@"
parallel=$?
[ "$parallel" -eq 2 ] && exit 2  # interrupted (Ctrl-C)
"$PY" -m pytest -m serial "$@"
serial=$?

# 5: the arguments chose no test of that part; a failure of either part wins.
for status in "$parallel" "$serial"; do
    [ "$status" -ne 0 ] && [ "$status" -ne 5 ] && exit "$status"
done
[ "$parallel" -eq 5 ] && [ "$serial" -eq 5 ] && exit 5
exit 0
