# A fresh clone needs only python3 (3.11+), pip and make: every target builds what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := $(VENV)/share/vodstack/big_buck_bunny.mp4
# The pages' hls.js and the browser tests' playwright-core, from web/package-lock.json.
NODE_STAMP := web/node_modules/.installed
CHROMIUM := /usr/bin/chromium
# bench/play's load generator and its static-file ceiling.
WRK := /usr/bin/wrk
# How many test processes share the machine: one per core, at least two (a test mostly waits
# on a server or on ffmpeg).
TEST_PROCESSES ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -lt 2 ] && n=2; echo $$n)
NGINX := /usr/sbin/nginx

.PHONY: demo serve test lint typecheck config-reference chromium bench-tools clean

demo: $(STAMP) $(SAMPLE) $(NODE_STAMP)
	$(BIN)/vodstack demo

$(SAMPLE): | $(STAMP)
	$(BIN)/python scripts/fetch_sample.py $@

serve: $(STAMP) $(NODE_STAMP)
	$(BIN)/vodstack serve

# The suite on every core (pytest-xdist), then the few tests that must run alone.
test: $(STAMP) $(SAMPLE) $(NODE_STAMP) chromium bench-tools lint typecheck
	$(BIN)/pytest -q --durations=15 -n $(TEST_PROCESSES) -m 'not serial'
	$(BIN)/pytest -q -m serial

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# docs/configuration-reference.md, written from the settings (a unit test checks it is in step).
config-reference: $(STAMP)
	$(BIN)/python -m vodstack.settings_doc

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium for the browser tests (Playwright's own browser downloads are not used).
# Installing needs root; without it the browser test skips and says why.
chromium:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else sudo -n sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium'; fi \
		|| echo "could not install chromium: the browser test will be skipped"; }

# Debian's wrk and nginx for bench/play (on Debian 12, nginx-light is nginx plus one module).
# Installing needs root; without them bench/play exits 2 and its smoke test is skipped.
# bench/play runs nginx with its own config on a free loopback port, never the system one.
bench-tools:
	@{ test -x $(WRK) && test -x $(NGINX); } || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light wrk; \
		else sudo -n sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light wrk'; fi \
		|| echo "could not install nginx and wrk: bench/play's smoke test will be skipped"; }

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
