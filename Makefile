# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export MM_RUN_DIR ?= $(CURDIR)/run
RUN := $(MM_RUN_DIR)
PROFILE ?= paper
SUPERVISORCTL = $(BIN)/supervisorctl -c supervisord.conf -s unix://$(RUN)/supervisor.sock
export MM_PROFILE ?= $(PROFILE)
export MM_VENUE_AUTOSTART ?= $(if $(filter paper paper-live,$(MM_PROFILE)),true,false)

.PHONY: help venv run stop restart status logs supervisorctl test test-slow test-all lint bench screenshot clean venue-reset

help:
	@echo "make run     set up .venv and start the whole stack on the simulated venue"
	@echo "make test    run the test suite (about 10 minutes at most)"
	@echo "make stop | status | logs | lint | bench | test-slow | supervisorctl ARGS='status'"

# -qq: setuptools prints a note on every editable install of a package-dir mapping (configs/ ships
# as mm_configs); errors still show.
$(STAMP): pyproject.toml
	@test -n "$(PY)" || { echo "python3.11+ not found"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --quiet -e ".[test,lint]"
	@touch $(STAMP)

venv: $(STAMP)

# Paper keys: random, per checkout, never committed. The venue and the gateway both read them.
$(RUN)/paper.env:
	@mkdir -p $(RUN)
	@umask 077; { echo "MM_API_KEY=paper-$$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; \
	  echo "MM_API_SECRET=$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"; } > $@

run: venv $(RUN)/paper.env
	@mkdir -p $(RUN)/logs
	@$(BIN)/python -m services.mmctl accounts --supervisor $(RUN)/supervisor.d/accounts.conf \
	  $(if $(filter paper paper-live,$(MM_PROFILE)),--paper-env $(RUN)/paper.env)
	@set -a; case "$(MM_PROFILE)" in paper|paper-live) . $(RUN)/paper.env;; esac; set +a; \
	if [ -S $(RUN)/supervisor.sock ] && $(SUPERVISORCTL) pid >/dev/null 2>&1; then \
	  echo "supervisord already running: updating"; $(SUPERVISORCTL) update; $(SUPERVISORCTL) start all >/dev/null || true; \
	else \
	  $(BIN)/supervisord -c supervisord.conf; \
	fi
	@echo ""
	@echo "The stack is starting under supervisord (profile $(MM_PROFILE)). Watch it with:"
	@echo "  $(BIN)/mmctl status                  services, pids, heartbeats"
	@echo "  $(BIN)/mmctl tap sys.heartbeat.      live heartbeats (any topic or family works)"
	@echo "  make logs                              every service's log"
	@echo "  make stop                              stop everything"
	@if grep -qs '"engaged":true' $(RUN)/gateway.kill.json; then \
	  echo ""; echo "The kill switch is still engaged from the last session: nothing will be quoted."; \
	  echo "  $(BIN)/mmctl status                  says since when and why"; \
	  echo "  $(BIN)/mmctl resume                  lifts it"; fi

# Returns once supervisord has exited and let go of its socket (so `make stop; make run` works):
# shutdown only asks; the services get their stop time, then supervisord removes its pid file.
stop:
	@if [ -S $(RUN)/supervisor.sock ] && $(SUPERVISORCTL) pid >/dev/null 2>&1; then \
	  pid=$$($(SUPERVISORCTL) pid); $(SUPERVISORCTL) shutdown; \
	  for i in $$(seq 1 600); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
	  if kill -0 $$pid 2>/dev/null; then echo "supervisord ($$pid) still running after 60 s"; exit 1; fi; \
	  echo "stopped"; \
	else echo "not running"; fi

restart: stop run

status: venv
	@$(SUPERVISORCTL) status || true
	@$(BIN)/mmctl status

logs:
	tail -F $(RUN)/logs/*.log

supervisorctl: venv
	$(SUPERVISORCTL) $(ARGS)

test: venv
	$(BIN)/python -m pytest -m "not slow" -q -n 2 --dist loadfile

test-slow: venv
	$(BIN)/python -m pytest -m "slow" -q

test-all: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check common services tests benchmarks
	$(BIN)/mypy

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The README's console picture, from `make run`'s console (headless Chromium; Debian's chromium).
screenshot: venv
	$(BIN)/python -m tests.browser http://127.0.0.1:$${MM_CONSOLE__PORT:-8080}/ docs/console.png

# The simulated venue keeps its accounts, orders and trades in $(RUN)/venue_state.json across
# restarts, as an exchange does; this starts it afresh (the stack must be stopped first), and
# forgets the gateways' fill marks, which are trade ids of that venue.
venue-reset:
	@if [ -S $(RUN)/supervisor.sock ] && $(SUPERVISORCTL) pid >/dev/null 2>&1; then \
	  echo "the stack is running: make stop first"; exit 1; fi
	rm -f $(RUN)/venue_state.json $(RUN)/gateway*.fills.json
	@echo "the simulated venue starts afresh at the next make run"

clean:
	rm -rf $(VENV) $(RUN) .pytest_cache .mypy_cache .ruff_cache
