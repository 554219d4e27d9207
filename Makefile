# Meridian: `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MERIDIAN_HOME ?= $(CURDIR)/.meridian
export DAGSTER_HOME ?= $(MERIDIAN_HOME)/dagster
# The Dagster instance: `default` (SQLite under DAGSTER_HOME) or `postgres` (dagster.postgres.yaml, MERIDIAN_PG_*).
MERIDIAN_INSTANCE ?= default
INSTANCE_YAML := $(if $(filter postgres,$(MERIDIAN_INSTANCE)),dagster.postgres.yaml,dagster.yaml)

.PHONY: setup demo demo-real test bench mutants ui ui-real desk clean

# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (containers, CI) every `meridian`
# command and run worker would otherwise recompile Dagster and its SDKs from source (~2 s of CPU each).
# The deploy extra (Postgres storage, Kubernetes and Docker launchers: ~125 MB, ~8 s) is installed so its tests run.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e ".[dev,deploy]"
	touch $(STAMP)

setup: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	@# The project's own modules are not in site-packages: compile them here too (only stale files are rewritten; a file that
	@# does not compile is left to fail where it is imported), or every command recompiles ~200 modules from source where
	@# PYTHONDONTWRITEBYTECODE is set (~0.3 s of CPU).
	@$(BIN)/python -m compileall -q -j 0 meridian_assets resources schedules sensors >/dev/null || true
	@cp -f $(INSTANCE_YAML) $(DAGSTER_HOME)/dagster.yaml
	@# tests/test_postgres_instance.py starts a throwaway PostgreSQL server on loopback (Debian's package)
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && \
		[ "$$(id -u)" = 0 ]; then apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || true; fi
	@# the desk's browser test drives Debian's Chromium (Playwright cannot download browsers here)
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null || true; fi

demo: setup
	$(BIN)/meridian demo

demo-real: setup
	$(BIN)/meridian demo --real

test: setup
	$(BIN)/pytest -q

bench: setup
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev,benchmarks]"
	$(BIN)/python -m benchmarks.run

# Mutation score of the money paths (mutmut, one copy of the tree per module, 2 workers, niced):
# benchmarks/results/mutation.json. `make mutants MODULES="pre_trade gates"` runs a subset.
mutants: setup
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev,mutation]"
	nice -n 10 $(BIN)/python -m benchmarks.mutation $(MODULES)

ui: setup
	$(BIN)/dagster dev -w workspace.yaml

ui-real: setup
	@mkdir -p $(MERIDIAN_HOME)/real/dagster && cp -f dagster.yaml $(MERIDIAN_HOME)/real/dagster/dagster.yaml
	MERIDIAN_HOME=$(MERIDIAN_HOME)/real DAGSTER_HOME=$(MERIDIAN_HOME)/real/dagster \
	MERIDIAN_CONFIG=$(CURDIR)/meridian.real.yaml $(BIN)/dagster dev -w workspace.yaml

# The PM's desk on http://127.0.0.1:8502 (desk.port), with `dagster dev` (webserver + daemon, which runs the
# desk's actions and publishes its snapshot) started in the background when nothing answers on port 3000.
desk: setup
	@curl -sf -o /dev/null http://127.0.0.1:3000/server_info || \
		(nohup $(BIN)/dagster dev -w workspace.yaml -p 3000 > $(MERIDIAN_HOME)/dagster-dev.log 2>&1 &)
	$(BIN)/streamlit run meridian_assets/desk/app.py --server.port 8502 --server.address 127.0.0.1 \
		--server.headless true --browser.gatherUsageStats false

clean:
	rm -rf $(VENV) .meridian output
