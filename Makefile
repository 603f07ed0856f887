# uness-gateway — the two commands: `make run` and `make test`.
# Both install what they need: system packages with apt-get when missing (as
# root), Python packages into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSTEM_PACKAGES := redis-server xmlsec1 chromium

.PHONY: help install system-deps test run bench clean

help:
	@echo "make run    start Redis, the gateway and its helpers on http://127.0.0.1:8000"
	@echo "make test   run the whole test suite"
	@echo "make bench  measure sign-in / SSO throughput"

install: system-deps $(VENV)/.installed

system-deps:
	@deploy/ensure-packages.sh $(SYSTEM_PACKAGES)

$(VENV)/.installed: setup.cfg pyproject.toml
	@deploy/ensure-venv.sh $(PYTHON) $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

run: install
	@deploy/dev/run.sh

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache
