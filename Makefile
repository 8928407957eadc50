# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install web web-test node-deps browser-deps haproxy-deps turn-deps services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The page ships prebuilt inside the package; it is rebuilt when its sources' hash changes.
WEB_SOURCES := web/src web/public web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json
WEB_HASH = $$(find $(WEB_SOURCES) -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-64)
WEB_STAMP := src/publicrooms/web/.source-hash

web:
	@if [ "$$(cat $(WEB_STAMP) 2>/dev/null)" != "$(WEB_HASH)" ]; then \
	  echo "building the web page"; \
	  (cd web && npm ci --no-audit --no-fund --silent && npm run build) && echo "$(WEB_HASH)" > $(WEB_STAMP); \
	fi

web-test:
	cd web && ([ -d node_modules ] || npm ci --no-audit --no-fund --silent) && npm test --silent

run: install web
	$(VENV)/bin/publicrooms serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

node-deps:
	cd tests/node && npm ci --no-audit --no-fund --silent

browser-deps:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The multi-node tests (tests/cluster) run the README's scale-out recipe behind HAProxy.
haproxy-deps:
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null)

# The TURN test (tests/browser/test_media_network.py) relays a browser's media through coturn.
turn-deps:
	@command -v turnserver >/dev/null || [ -x /usr/bin/turnserver ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null)

# PostgreSQL and Redis are expected on 127.0.0.1 (5432, 6379); start them if they are installed but down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start) || true
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || (command -v redis-server >/dev/null && redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no) || true

# Browser tests run in their own pytest process: Playwright's sync API keeps an event loop
# running in the main thread, which the asyncio tests cannot share.
test: install web node-deps browser-deps haproxy-deps turn-deps services web-test
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/browser $(PYTEST_ARGS)
	$(PY) -m pytest -q -p no:cacheprovider tests/browser $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) tests/node/node_modules web/node_modules
