# Two entry points, both self-installing on a fresh machine:
#   make run   - the service on embedded defaults (SQLite, embedded Redis)
#   make run-helpdesk - the same, running the example IT help desk (examples/helpdesk.yaml)
#   make test  - the test suite against real SIP peers (in parallel: scripts/run-tests.sh)
#   make lint  - ruff and mypy --strict, at the versions pinned in pyproject's lint extra
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
LINT_STAMP := $(VENV)/.lint-stamp
PYTEST_ARGS ?=

.PHONY: run run-helpdesk test test-peers bench lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ivr serve

# The example IT help desk: its plans with the queues, agents and callbacks they name.
run-helpdesk: $(STAMP)
	$(VENV)/bin/ivr serve --config examples/helpdesk.yaml

test-peers:
	bash scripts/install-test-peers.sh

test: $(STAMP) test-peers
	PY=$(PY) scripts/run-tests.sh $(PYTEST_ARGS)

bench: $(STAMP) test-peers
	$(PY) bench/call_rate.py
	$(PY) bench/speech_latency.py
	$(PY) bench/callback_dispatch.py
	$(PY) bench/overload.py

$(LINT_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[lint]'
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check ivr callback tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) var .pytest_cache
