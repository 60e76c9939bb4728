# Two commands for a newcomer: `make demo` (set up, then run the demo swarm) and `make test`
# (set up, then run the test suite). Setup is idempotent and only redone when its inputs change.
# Running a swarm needs only Python (the contracts' compiled artifacts are committed); npm is
# needed for the tests alone: solc-js (recompiling the contracts) and anvil (a second chain).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup setup-test chromium iproute2 demo test lint clean

setup: $(STAMP)

setup-test: setup contracts/node_modules/.package-lock.json tests/anvil/node_modules/.package-lock.json chromium iproute2

# Debian's chromium for the dashboard's browser test (Playwright drives it: its own browser
# download does not work offline). Where apt cannot install it, that one test is skipped.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: the dashboard's browser test will be skipped"

# iproute2 (ip, tc) for the separate-hosts test (network namespaces, as root). Where apt
# cannot install it, that test is skipped with the reason.
iproute2:
	@(command -v ip >/dev/null && command -v tc >/dev/null) \
		|| (apt-get update -qq && apt-get install -y -qq iproute2) \
		|| echo "iproute2 could not be installed: the separate-hosts test will be skipped"

# Exact versions from constraints.txt (pyproject.toml itself asks only for ranges).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# solc-js, pinned by contracts/package-lock.json: only needed to recompile the contracts.
contracts/node_modules/.package-lock.json: contracts/package.json contracts/package-lock.json
	npm ci --prefix contracts --no-audit --no-fund

# anvil, pinned by tests/anvil/package-lock.json: a second, independent chain for the tests.
tests/anvil/node_modules/.package-lock.json: tests/anvil/package.json tests/anvil/package-lock.json
	npm ci --prefix tests/anvil --no-audit --no-fund

demo: setup
	$(BIN)/swarm demo

# Two workers, a test module each (`loadscope`: a module's shared swarm is started once): most
# of an end-to-end test is waiting for blocks and peers, so two run side by side on 2 cores.
test: setup-test
	$(BIN)/python -m pytest -q -n 2 --dist loadscope

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) contracts/node_modules tests/anvil/node_modules swarm-data
