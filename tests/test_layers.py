"""Dependencies point down: no module imports a module of a higher layer (docs/architecture.md).

Every import of every module is read with `ast`, including imports inside functions (a lazy import is still a
dependency) and under TYPE_CHECKING. Layers, lowest first:

    base         config loading (config*.py), calendar, storage, errors, dbread, plotting, warehouse, each domain's settings.py
    ingest → factors → analysis → risk → portfolio → execution → reporting → meta → serving → operations
                 domain logic in the order data flows: plain modules, no Dagster, no resources/
    resources    resources/ (each resource wraps domain logic) and runs.py (Dagster's run records)
    wiring       each domain's assets, checks, jobs, executors, partitions, definitions; gates.py; the main job
    automation   schedules/, sensors/
    location     meridian_assets/definitions.py (merges every domain's Definitions)
    cli → desk

Modules of one layer may import each other; domain logic packages are each a layer of their own, so they form
no cycle. Risk sits below portfolio: the risk model, the limits and the pre-trade check are what portfolio
construction is built on, and the risk state reads the book only through tables, never through portfolio code.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("meridian_assets", "resources", "schedules", "sensors")

BASE_MODULES = {"meridian_assets", "meridian_assets.config", "meridian_assets.calendar", "meridian_assets.storage",
                "meridian_assets.errors", "meridian_assets.dbread", "meridian_assets.plotting",
                "meridian_assets.tables"}
BASE_PACKAGES = ("meridian_assets.warehouse",)
DOMAINS = ("ingest", "factors", "analysis", "risk", "portfolio", "execution", "reporting", "meta", "serving")
OPERATIONS = {"meridian_assets.summary", "meridian_assets.reset"}  # what `meridian reset` / the run summaries do
WIRING_FILES = {"assets", "checks", "jobs", "executors", "definitions", "partitions"}
WIRING_MODULES = {"meridian_assets.gates", "meridian_assets.jobs",  # jobs: main_job, across every domain
                  "meridian_assets.risk.kill_switch"}  # kill_switch: the halt_lock asset

LAYERS = ("base", *DOMAINS, "operations", "resources", "wiring", "automation", "location", "cli", "desk")
RANK = {name: i for i, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if (module in BASE_MODULES or module.startswith(BASE_PACKAGES) or module.startswith("meridian_assets.config")
            or parts[0] == "meridian_assets" and parts[-1] == "settings"):
        return "base"
    if parts[0] == "resources" or module == "meridian_assets.runs":
        return "resources"
    if parts[0] in ("schedules", "sensors"):
        return "automation"
    if module in WIRING_MODULES or parts[-1] in WIRING_FILES or parts[-1].endswith("_assets"):
        return "location" if module == "meridian_assets.definitions" else "wiring"
    if module in OPERATIONS:
        return "operations"
    if parts[1] in DOMAINS:
        return parts[1]
    if parts[1] in ("cli", "desk"):
        return parts[1]
    raise AssertionError(f"{module} has no layer: add it to tests/test_layers.py and docs/architecture.md")


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, project module) for every import in ``path``, resolved to the longest known module name."""

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in known:
                return ".".join(parts[:i])
        return None

    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, resolve(a.name)) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])]) \
                if node.level else node.module
            found += [(node.lineno, resolve(f"{base}.{a.name}") or resolve(base)) for a in node.names]
    return [(line, target) for line, target in found if target and target != module]


def upward_imports() -> list[str]:
    known = all_modules()
    bad = []
    for module, path in known.items():
        mine = layer_of(module)
        for line, target in imports_of(module, path, known):
            theirs = layer_of(target)
            if RANK[theirs] > RANK[mine]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {module} ({mine}) imports {target} ({theirs}), "
                           f"a higher layer")
    return sorted(set(bad))


def test_every_module_has_a_layer():
    for module in all_modules():
        assert layer_of(module) in RANK


def test_no_module_imports_a_higher_layer():
    bad = upward_imports()
    assert not bad, "imports that run upward (layers: " + " < ".join(LAYERS) + "):\n" + "\n".join(bad)


CLI_HELPERS = {"meridian_assets.cli.runner", "meridian_assets.cli.pool_wait"}
CLI_COMPOSITES = ("meridian_assets.cli", "meridian_assets.cli.demo")  # the dispatcher; demo (and demo_*) runs the others


def test_commands_never_import_each_other():
    """A helper two commands share moves down (into cli/runner.py or a domain); only the dispatcher and
    `meridian demo`, which runs data, score, portfolio and report in turn, import commands."""
    known = all_modules()
    bad = [f"{known[m].relative_to(ROOT)}:{line}: {m} imports the command {t}"
           for m in known if layer_of(m) == "cli" and m != CLI_COMPOSITES[0] and not m.startswith(CLI_COMPOSITES[1])
           for line, t in imports_of(m, known[m], known) if layer_of(t) == "cli" and t not in CLI_HELPERS]
    assert not bad, "\n".join(bad)


def test_domain_logic_imports_no_dagster():
    known = all_modules()
    offenders = []
    for module, path in known.items():
        if layer_of(module) in DOMAINS or layer_of(module) in ("base", "operations"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                if any(n == "dagster" or n.startswith("dagster.") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module} ({layer_of(module)})")
    assert not offenders, "plain modules that import Dagster (move the Dagster part to the wiring):\n" + \
        "\n".join(offenders)


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The walk finds a lazy import inside a function and names importer, imported and both layers."""
    import tests.test_layers as this

    pkg = tmp_path / "meridian_assets" / "ingest"
    pkg.mkdir(parents=True)
    (tmp_path / "meridian_assets" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "loader.py").write_text("def f():\n    from meridian_assets.portfolio.rebalance import x\n")
    (tmp_path / "meridian_assets" / "portfolio").mkdir()
    (tmp_path / "meridian_assets" / "portfolio" / "__init__.py").write_text("")
    (tmp_path / "meridian_assets" / "portfolio" / "rebalance.py").write_text("from meridian_assets.ingest import loader\n")
    monkeypatch.setattr(this, "ROOT", tmp_path)
    monkeypatch.setattr(this, "PACKAGES", ("meridian_assets",))
    assert this.upward_imports() == [
        "meridian_assets/ingest/loader.py:2: meridian_assets.ingest.loader (ingest) imports "
        "meridian_assets.portfolio.rebalance (portfolio), a higher layer"]


def test_duckdb_is_opened_read_only_only_through_dbread():
    """One read-only helper (`dbread.read_only` / `dbread.connect`): it waits while a writer holds the file and
    then says which process holds it, instead of DuckDB's lock error."""
    known = all_modules()
    by_hand = [f"{path.relative_to(ROOT)}:{node.lineno}"
               for module, path in known.items() if module != "meridian_assets.dbread"
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect"
               and isinstance(node.func.value, ast.Name) and node.func.value.id == "duckdb"
               and any(k.arg == "read_only" for k in node.keywords)]
    assert not by_hand, "DuckDB opened read-only by hand (use meridian_assets.dbread):\n" + "\n".join(by_hand)
