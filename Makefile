# A fresh clone needs only python3 (3.11+), pip and make: every target builds what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := $(VENV)/share/vodstack/big_buck_bunny.mp4
# The pages' hls.js and the browser tests' playwright-core, from web/package-lock.json.
NODE_STAMP := web/node_modules/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: demo serve test lint typecheck chromium clean

demo: $(STAMP) $(SAMPLE) $(NODE_STAMP)
	$(BIN)/vodstack demo

$(SAMPLE): | $(STAMP)
	$(BIN)/python scripts/fetch_sample.py $@

serve: $(STAMP) $(NODE_STAMP)
	$(BIN)/vodstack serve

test: $(STAMP) $(SAMPLE) $(NODE_STAMP) chromium lint typecheck
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

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

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
