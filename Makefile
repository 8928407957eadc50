# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install web node-deps browser-deps services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The page ships prebuilt inside the package; rebuild it when its sources are newer.
web:
	@if [ -f web/package.json ] && command -v npm >/dev/null; then \
	  if [ ! -f src/publicrooms/web/index.html ] || \
	     [ -n "$$(find web/src web/index.html web/package.json -newer src/publicrooms/web/index.html 2>/dev/null | head -1)" ]; then \
	    (cd web && npm ci --no-audit --no-fund && npm run build); \
	  fi; \
	fi

run: install web
	$(VENV)/bin/publicrooms serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

node-deps:
	cd tests/node && npm ci --no-audit --no-fund --silent

browser-deps:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# PostgreSQL and Redis are expected on 127.0.0.1 (5432, 6379); start them if they are installed but down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start) || true
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || (command -v redis-server >/dev/null && redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no) || true

test: install web node-deps browser-deps services
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) tests/node/node_modules web/node_modules
