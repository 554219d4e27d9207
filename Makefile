# Meridian: `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MERIDIAN_HOME ?= $(CURDIR)/.meridian
export DAGSTER_HOME ?= $(MERIDIAN_HOME)/dagster

.PHONY: setup demo demo-real test bench mutants ui ui-real clean

# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (containers, CI) every `meridian`
# command and run worker would otherwise recompile Dagster and its SDKs from source (~2 s of CPU each).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	@cp -f dagster.yaml $(DAGSTER_HOME)/dagster.yaml

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

clean:
	rm -rf $(VENV) .meridian output
