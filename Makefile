# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE ?= samples/penguins-raw.csv
TARGET ?= Species
OUT ?= out/sample
PYTEST_FLAGS ?=
SERVE_PORT ?= 8000
SERVE_DATA ?= dsp-data

.PHONY: help install run serve test unit unit-offline integration e2e browser bench prove prove-quick prove-values up down status lint schemas asyncapi openapi ui ui-test clean

help:
	@echo "make run      - install, then analyse a sample CSV with the dsp command (no services needed)"
	@echo "make serve    - the platform with its web UI in one process on http://127.0.0.1:8000 (no services;"
	@echo "               SQLite and artifacts in dsp-data/; SERVE_PORT=, SERVE_DATA= to change)"
	@echo "make test     - every test tier: unit, integration (real PostgreSQL/RabbitMQ/Redis), e2e, browser"
	@echo "make up/down  - run the whole mesh locally as processes (gateway on http://127.0.0.1:8000;"
	@echo "               DSP_BOOTSTRAP_ADMIN_EMAIL/_PASSWORD create the first admin)"
	@echo "make ui       - build the web UI (ui/dist) the gateway serves at /; make up builds it too"
	@echo "make bench    - benchmarks against peers; results in docs/benchmarks.md"
	@echo "make prove    - every reliability proof (chaos, fuzzing, hostile uploads, throughput, values of ~250 real"
	@echo "               CSVs), written to docs/reliability.md with the machine named; fails if any failed"
	@echo "               (make prove-quick: the short run; make prove-values: the values sweep alone)"

$(UV):
	python3 -m pip install --user --quiet "uv>=0.5"

$(VENV)/.installed: uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml cli/pyproject.toml plugins/*/pyproject.toml) | $(UV)
	$(UV) sync --frozen --all-packages --all-groups
	@touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/dsp analyze $(SAMPLE) --target "$(TARGET)" --out $(OUT) --time-budget 30

serve: install ui
	$(VENV)/bin/dsp serve --port $(SERVE_PORT) --data $(SERVE_DATA) --open

test: install
	bash scripts/test.sh $(PYTEST_FLAGS)

# The web UI: node_modules from the committed package-lock.json (npm ci), then the build into ui/dist.
# The stamps keep both from running again while their inputs are unchanged.
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/package.json ui/vite.config.ts \
	ui/tailwind.config.js ui/postcss.config.js ui/tsconfig.json

ui/node_modules/.installed: ui/package-lock.json ui/package.json
	cd ui && npm ci --no-audit --no-fund
	@touch $@

ui/dist/.built: ui/node_modules/.installed $(UI_SOURCES)
	cd ui && npm run build
	@touch $@

ui: ui/dist/.built

ui-test: ui/node_modules/.installed
	cd ui && npm run typecheck && npx vitest run

unit: install
	$(PY) -m pytest -m "not integration and not e2e and not browser and not slow" $(PYTEST_FLAGS)

integration: install
	$(PY) -m pytest -m "integration" $(PYTEST_FLAGS)

e2e: install
	$(PY) -m pytest -m "e2e" $(PYTEST_FLAGS)

browser: install
	$(PY) -m pytest -m "browser" $(PYTEST_FLAGS)

bench: install
	$(PY) bench/run_all.py

# bench/prove.py runs each bench/prove_*.py with its own JSON in out/prove/ and renders docs/reliability.md;
# PROVE_FLAGS=--only throughput runs one proof again and keeps the others' last results.
PROVE_FLAGS ?=
prove: install
	$(PY) bench/prove.py $(PROVE_FLAGS)

prove-quick: install
	$(PY) bench/prove.py --quick $(PROVE_FLAGS)

PROVE_OUT ?= out/prove_values.md
prove-values: install
	$(PY) bench/prove_values.py $(PROVE_OUT)

# DSP_BOOTSTRAP_ADMIN_EMAIL, DSP_BOOTSTRAP_ADMIN_PASSWORD, DSP_BOOTSTRAP_ORGANIZATION (and DSP_JWT_SECRET) pass
# through to the gateway, which creates that admin at start; DSP_<SERVICE>_AMQP_URL gives a service its own broker user.
# REPLICAS=ml=3 (space-separated SERVICE=N) runs several processes of a service on its one queue.
REPLICAS ?=
up: install ui
	$(PY) -m mesh_kit.local_mesh up $(foreach r,$(REPLICAS),--replicas $(r))
	@curl -sf -o /dev/null http://127.0.0.1:15692/metrics || echo "note: RabbitMQ's rabbitmq_prometheus plugin is off: the queue panels and alerts have no data (rabbitmq-plugins enable rabbitmq_prometheus; docs/operate.md)"

down:
	$(PY) -m mesh_kit.local_mesh down

status:
	$(PY) -m mesh_kit.local_mesh status

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit-offline: install  ## the unit tier in a network namespace with only loopback up: no service reachable
	unshare --net sh -c 'ip link set lo up 2>/dev/null || true; $(PY) -m pytest -m "not integration and not e2e and not browser and not slow" -p no:cacheprovider $(PYTEST_FLAGS)'

schemas: install
	$(PY) -m shared_contracts.schemas --write

asyncapi: install
	$(PY) scripts/asyncapi.py --write

openapi: install ui/node_modules/.installed  ## the gateway's OpenAPI document and the UI's types generated from it
	$(PY) scripts/openapi.py --write
	cd ui && npm run gen:api

clean:
	rm -rf out var .pytest_cache
