# The two commands of the README:
#   make run   installs what the system needs and runs it (embedded default: SQLite,
#              emulated devices, demo data, all surfaces on http://127.0.0.1:8000/)
#   make test  installs what the tests need (pcscd, vpcd, CUPS, cups-pdf, fonts, Chromium…)
#              and runs the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test install install-test system-packages test-system-packages bench clean

# The demo also gets a supervisor account for the clerk screens (never made by `init` itself,
# so a real installation has no known password): sign in to /counter/ as demo / hanko-window-2026.
DEMO_USER ?= demo
DEMO_PASSWORD ?= hanko-window-2026

run: install
	$(VENV)/bin/madoguchi init
	$(VENV)/bin/madoguchi users list | grep -q '^$(DEMO_USER)\b' || \
	  echo '$(DEMO_PASSWORD)' | $(VENV)/bin/madoguchi users add $(DEMO_USER) --role supervisor --name 'デモ職員' --password-stdin
	$(VENV)/bin/madoguchi serve

test: install-test
	scripts/run-tests

install: system-packages $(VENV)/.installed
install-test: test-system-packages $(VENV)/.installed-test

system-packages:
	scripts/install-system-packages run

test-system-packages:
	scripts/install-system-packages test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml package.json
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	test ! -f package.json || npm install --no-audit --no-fund --silent
	touch $@ $(VENV)/.installed

bench: install-test
	for b in bench/*.py; do $(PY) $$b; done

clean:
	rm -rf $(VENV) var tests/output node_modules
