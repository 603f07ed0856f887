# uness-gateway — the two commands: `make run` and `make test`.
# Both install what they need: system packages with apt-get when missing (as
# root), Python packages into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSTEM_PACKAGES := redis-server xmlsec1 chromium apache2 libapache2-mod-shib nginx

# The UI speaks French (the message ids in the code and templates) and English
# (gateway/translations/en). The compiled catalogues (.mo) are not committed:
# `make install` builds them after pip install and again whenever a .po changes.
TRANSLATIONS := gateway/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
# Besides pybabel's default keywords (_, gettext, ngettext, ...): Flask-Babel's lazy ones.
# tests/test_i18n.py reads this line to extract exactly as `make translations` does.
BABEL_KEYWORDS := -k _l -k lazy_gettext -k lazy_ngettext:1,2
VERSION = $(shell sed -n 's/^version *= *//p' setup.cfg)

.PHONY: help install system-deps test run bench soak clean translations

help:
	@echo "make run    start Redis, the gateway and its helpers on http://127.0.0.1:8000"
	@echo "make test   run the whole test suite"
	@echo "make bench  measure sign-in / SSO throughput"
	@echo "make soak   mixed traffic for SOAK_MINUTES (30): errors, latency and memory per minute"
	@echo "make translations  extract the French messages, update the English catalogue to translate"

install: system-deps $(VENV)/.installed $(MO_FILES)

system-deps:
	@deploy/ensure-packages.sh $(SYSTEM_PACKAGES)

$(VENV)/.installed: setup.cfg pyproject.toml
	@deploy/ensure-venv.sh $(PYTHON) $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

# Each compiled catalogue after pip install (pybabel comes with Flask-Babel), and again when its .po changes.
$(MO_FILES): %.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile -i $< -o $@

# After adding or changing French strings: extract them all into messages.pot, merge it into
# the English catalogue (new or changed ids come with an empty translation), then translate them in
# $(TRANSLATIONS)/en/LC_MESSAGES/messages.po and run `make test` (tests/test_i18n.py checks it).
translations: $(VENV)/.installed
	$(BIN)/pybabel --quiet extract -F babel.cfg $(BABEL_KEYWORDS) --add-comments=TRANSLATORS: \
		--project=uness-gateway --version=$(VERSION) --copyright-holder=UNESS \
		-o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel --quiet update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l en \
		--init-missing --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile --statistics -d $(TRANSLATIONS)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

run: install
	@deploy/dev/run.sh

bench: install
	$(BIN)/python -m bench

# Not part of `make test`: SOAK_MINUTES (default 30) of mixed traffic on the real stack (bench/soak.py).
soak: install
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache
