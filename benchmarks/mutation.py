"""`make mutants`: mutation score of the money paths, written to benchmarks/results/mutation.json.

    python -m benchmarks.mutation                 # every default module in MODULES (all of them today)
    python -m benchmarks.mutation pre_trade gates  # the modules whose name contains one of the words
    python -m benchmarks.mutation all             # also any module marked default=False
    python -m benchmarks.mutation --salvage rebalance  # record a run stopped part-way (incomplete, not in total)
    python -m benchmarks.mutation --rescore       # re-read mutation_equivalent.md over the recorded survivors

Each module runs mutmut (3.x) on its own copy of the tree (under ``$MUTATION_WORKDIR``, default
/tmp/meridian-mutation/<module>), so edits in the work tree during a run change nothing, with only the fast
test files that exercise it. mutmut rewrites every function of the module into its mutants and runs, for each
mutant, the tests that call that function; a mutant is *killed* when a test fails, *survived* when all pass,
*timeout* when the tests ran past mutmut's limit twice, the second time a generous one (counted as killed: the
change was noticed, e.g. a loop that never ends), *no tests*
when no selected test calls the function. Survivors listed in benchmarks/mutation_equivalent.md (one
`- \\`mutant name\\`: reason` line each) count as *equivalent* (the change cannot alter behaviour) and leave the
score. score = (killed + timeout) / (killed + timeout + survived + no_tests).

mutmut leaves decorated functions alone, and risk/kill_switch.py's logic is one Dagster asset. For such a module
(``undecorate``) the copy applies each top-level function's Dagster decorator by a call after its body
(``halt_lock = dg.asset(...)(halt_lock)``, the same object Dagster builds), so mutmut mutates the body and the
tests still materialize the real asset.

Property tests run derandomised (CI=1), so a rerun of the same tree gives the same figures. The survivors'
diffs are written beside the JSON (mutation_survivors.txt) for review.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
EQUIVALENT = ROOT / "benchmarks" / "mutation_equivalent.md"
COPY = ["meridian_assets", "resources", "schedules", "sensors", "templates", "tests"]
COPY_FILES = ["pyproject.toml", "meridian.yaml", "dagster.yaml", "workspace.yaml", "README.md"]
TARGET = 0.90
# mutmut's wall limit per mutant is (its tests' time + 1 s) x the multiplier. A tight first pass keeps real hangs
# cheap; on a busy shared machine it also stops some slow-but-finishing runs, so every timeout is run again with
# a generous limit (mutmut re-runs only the timed-out mutants when just the timeout setting changed).
FIRST_TIMEOUT, RECHECK_TIMEOUT = 3.0, 8.0


@dataclass(frozen=True)
class Module:
    name: str
    sources: tuple[str, ...]  # files mutated, relative to the repo root
    tests: tuple[str, ...]  # the fast test files that exercise them
    default: bool = True  # in a plain `make mutants` (False: too slow for its 30-minute budget; name it to run)
    # "forkserver" for tests that use polars or Dagster: a process forked after their thread pools started can
    # deadlock, which mutmut would count as a timeout (a false kill)
    isolation: str = "fork"
    undecorate: bool = False  # apply top-level functions' `@dg.` decorators by call in the copy (see above)
    deselect: tuple[str, ...] = ()  # test ids left out (too slow per mutant; say why beside them)
    # modules imported once in the process every mutant's test run is forked from (a pytest plugin module of the
    # copy, ``-p mutation_preload``): a heavy library the code imports where used (cvxpy: ~2 s) is then not
    # imported again by every mutant's run. Imports only: nothing that starts a thread pool before the fork.
    preload: tuple[str, ...] = ()


MODULES: tuple[Module, ...] = (  # run in this order; the JSON is rewritten after each module
    Module("kill_switch", ("meridian_assets/risk/kill_switch.py",),
           ("tests/test_money_paths_kill_switch.py", "tests/test_kill_switch.py"), isolation="forkserver",
           undecorate=True),
    Module("executor", ("meridian_assets/execution/executor.py",),
           ("tests/test_execution_executor.py", "tests/test_mut_executor.py", "tests/test_mut_executor_paths.py"),
           isolation="forkserver"),
    Module("reconcile", ("meridian_assets/execution/reconcile.py",),
           ("tests/test_money_paths_reconcile.py", "tests/test_mut_reconcile.py"), isolation="forkserver"),
    Module("gates", ("meridian_assets/gates.py",),
           ("tests/test_money_paths_gates.py", "tests/test_mut_gates.py"), isolation="forkserver"),
    Module("quality", ("meridian_assets/ingest/quality/*.py",),
           ("tests/test_quality.py", "tests/test_mut_quality.py", "tests/test_mut_quality_bounds.py",
            "tests/test_mut_quality_prices.py", "tests/test_mut_quality_engine.py"), isolation="forkserver",
           # 378,000 rows per mutant: its rules are the small tests' (with exact values); it measures speed
           deselect=("tests/test_quality.py::test_price_rules_are_fast_on_500_tickers_by_756_days",)),
    Module("rebalance", ("meridian_assets/portfolio/rebalance.py",),
           ("tests/test_mut_rebalance.py", "tests/test_mut_rebalance_paths.py", "tests/test_portfolio_rebalance.py",
            "tests/test_portfolio_selection.py", "tests/test_mut_rebalance_survivors.py"),
           isolation="forkserver", preload=("cvxpy",)),  # a solve is ~0.1 s once cvxpy is imported (~2 s)
    Module("pre_trade", ("meridian_assets/risk/pre_trade.py",),
           ("tests/test_pre_trade.py", "tests/test_pre_trade_property.py", "tests/test_pre_trade_edges.py")),
    Module("breakers", ("meridian_assets/risk/breakers.py",),
           ("tests/test_breakers.py", "tests/test_money_paths_breakers.py")),
    Module("halt_lock", ("meridian_assets/risk/halt_lock.py",),
           ("tests/test_breakers.py", "tests/test_money_paths_halt_lock.py")),
    Module("turnover", ("meridian_assets/portfolio/turnover.py",),
           ("tests/test_money_paths_turnover.py", "tests/test_portfolio_costs_turnover.py")),
    Module("gateway", ("meridian_assets/execution/gateway.py",),
           ("tests/test_money_paths_gateway.py",)),
)

LINE = re.compile(r"^\s+(\S+__mutmut_\d+): (.+)$")
EQUIV = re.compile(r"^- `([^`]+__mutmut_\d+)`")


def equivalent_names() -> set[str]:
    if not EQUIVALENT.exists():
        return set()
    return {m.group(1) for line in EQUIVALENT.read_text().splitlines() if (m := EQUIV.match(line))}


PRELOAD = "mutation_preload"


def mutmut_config(module: Module, tests: list[str]) -> str:
    def arr(xs) -> str:
        return "[" + ", ".join(json.dumps(x) for x in xs) + "]"

    deselect = [arg for test in module.deselect for arg in ("--deselect", test)]
    preload_file = [f"{PRELOAD}.py"] if module.preload else []
    preload_plugin = ["-p", PRELOAD] if module.preload else []

    return "\n".join([
        "", "[tool.mutmut]",
        'source_paths = ["meridian_assets"]',
        f"only_mutate = {arr(module.sources)}",
        f'also_copy = {arr(["resources/", "schedules/", "sensors/", "templates/", *COPY_FILES, *preload_file])}',
        f"pytest_add_cli_args_test_selection = {arr([*tests, *deselect])}",
        # per-test limit inside a mutant run (pytest-timeout); mutmut's own CPU limit catches the rest
        f'pytest_add_cli_args = {arr(["-p", "no:cacheprovider", *preload_plugin, "-o", "timeout=60", "-q"])}',
        "use_git_change_detection = false",
        f'process_isolation = "{module.isolation}"',
        f"timeout_multiplier = {FIRST_TIMEOUT}",  # wall limit (test time + 1 s) x this; see run_module
        "",
    ])


def decorators_by_call(source: str) -> str:
    """``@dg.x(...)\\ndef f(...): body`` -> ``def f(...): body\\nf = dg.x(...)(f)`` for each top-level function
    whose decorators are all Dagster's (applied innermost first, as the ``@`` syntax does)."""
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    for node in sorted((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.decorator_list),
                       key=lambda n: n.lineno, reverse=True):
        decorators = [ast.get_source_segment(source, d) for d in node.decorator_list]
        if not all(d.startswith("dg.") for d in decorators):
            continue
        applied = node.name
        for d in reversed(decorators):
            applied = f"{d}({applied})"
        lines[node.end_lineno:node.end_lineno] = [f"\n\n{node.name} = {applied}\n"]
        del lines[node.decorator_list[0].lineno - 1:node.lineno - 1]  # the "@" lines (the "def" line stays)
    return "".join(lines)


def prepare(module: Module, work: Path) -> list[str]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for d in COPY:
        shutil.copytree(ROOT / d, work / d, ignore=ignore)
    for f in COPY_FILES:
        if (ROOT / f).exists():
            shutil.copy2(ROOT / f, work / f)
    if module.undecorate:
        for src in module.sources:
            for f in work.glob(src):
                f.write_text(decorators_by_call(f.read_text()))
    if module.preload:
        (work / f"{PRELOAD}.py").write_text(
            '"""Imported before the fork: see benchmarks/mutation.py (Module.preload)."""\n\n'
            + "".join(f"import {m}  # noqa: F401\n" for m in module.preload))
    tests = [t for t in module.tests if (work / t).exists()]
    with (work / "pyproject.toml").open("a") as fh:
        fh.write(mutmut_config(module, tests))
    return tests


def read_statuses(work: Path, env: dict) -> dict[str, str]:
    listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work, env=env,
                             capture_output=True, text=True).stdout
    return {m.group(1): m.group(2).strip() for line in listing.splitlines() if (m := LINE.match(line))}


# `mutmut show` for every survivor in one process (a process per survivor costs ~1 s each: minutes per module)
SHOW = ("import sys\nfrom mutmut.__main__ import show\n"
        "for name in sys.argv[1:]:\n    show.callback(name)\n    print(%r, flush=True)\n")
SEPARATOR = "\x1e"


def survivor_diffs(work: Path, env: dict, survivors: list[str]) -> list[str]:
    if not survivors:
        return []
    out = subprocess.run([sys.executable, "-c", SHOW % SEPARATOR, *survivors], cwd=work, env=env,
                         capture_output=True, text=True).stdout
    return [d.strip("\n") + "\n" for d in out.split(SEPARATOR + "\n")[:len(survivors)]]


def _tally(counts: dict[str, int], survivors: list[str], name: str, status: str, equivalent: set[str]) -> None:
    """Count one mutant's status; a survivor listed in mutation_equivalent.md counts as equivalent."""
    if status == "survived" and name in equivalent:
        counts["equivalent"] += 1
    elif status == "survived":
        counts["survived"] += 1
        survivors.append(name)
    elif status in ("killed", "timeout"):
        counts[status] += 1
    elif status == "no tests":
        counts["no_tests"] += 1
    else:
        counts["other"] += 1


def run_module(module: Module, base: Path, children: int) -> dict:
    work = base / module.name
    tests = prepare(module, work)
    home = work / "home"
    (home / "dagster").mkdir(parents=True)
    env = {**os.environ, "CI": "1", "MERIDIAN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("MERIDIAN_CONFIG", None)
    mutmut = [sys.executable, "-m", "mutmut"]
    started, cpu0 = time.monotonic(), os.times()
    proc = subprocess.run([*mutmut, "run", "--max-children", str(children)], cwd=work, env=env,
                          capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    statuses = read_statuses(work, env)
    rechecked = sum(1 for v in statuses.values() if v == "timeout")
    if proc.returncode == 0 and rechecked:
        config = work / "pyproject.toml"
        config.write_text(config.read_text().replace(f"timeout_multiplier = {FIRST_TIMEOUT}",
                                                     f"timeout_multiplier = {RECHECK_TIMEOUT}"))
        proc = subprocess.run([*mutmut, "run", "--max-children", str(children)], cwd=work, env=env,
                              capture_output=True, text=True)
        log += proc.stdout + proc.stderr
        statuses = read_statuses(work, env)
    wall = time.monotonic() - started
    cpu1 = os.times()
    (work / "mutmut-run.log").write_text(log)
    equivalent = equivalent_names()
    counts = {"killed": 0, "survived": 0, "timeout": 0, "equivalent": 0, "no_tests": 0, "other": 0}
    survivors = []
    for name, status in sorted(statuses.items()):
        _tally(counts, survivors, name, status, equivalent)
    diffs = survivor_diffs(work, env, survivors)
    scored = counts["killed"] + counts["timeout"] + counts["survived"] + counts["no_tests"]
    return {
        "sources": list(module.sources), "tests": tests, "mutants": len(statuses), **counts,
        "score": round((counts["killed"] + counts["timeout"]) / scored, 4) if scored else None,
        "survivors": survivors, "survivor_diffs": diffs,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round((cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system), 1),
        "timeouts_rechecked": rechecked,
        "mutmut_exit_code": proc.returncode,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "complete": proc.returncode == 0 and counts["other"] == 0,  # False: stopped early, figures partial
    }


def write(modules: dict, last_run: dict | None = None) -> dict:
    """Write mutation.json (every module measured so far, this run's and earlier ones') and the survivors' diffs."""
    keys = ("killed", "timeout", "survived", "equivalent", "no_tests", "other")
    total = {k: sum(m.get(k, 0) for m in modules.values() if m.get("complete", True)) for k in keys}
    scored = total["killed"] + total["timeout"] + total["survived"] + total["no_tests"]
    score = round((total["killed"] + total["timeout"]) / scored, 4) if scored else None
    doc = {"name": "mutation", "tool": "mutmut", "target": TARGET, "score": score, "total": total,
           "passed": score is not None and score >= TARGET, "last_run": last_run or {}, "modules": modules}
    (RESULTS / "mutation.json").write_text(json.dumps(doc, indent=2) + "\n")
    (RESULTS / "mutation_survivors.txt").write_text("\n".join(
        d for m in modules.values() for d in m.get("survivor_diffs", [])))
    return doc


def salvage(name: str, base: Path) -> dict:
    """Figures of a module whose run was stopped part-way, from mutmut's per-file cache (``--salvage <module>``):
    the mutants tested so far, first-pass verdicts (timeouts not re-checked), marked incomplete."""
    from mutmut.stats import status_by_exit_code

    module = next(m for m in MODULES if m.name == name)
    equivalent = equivalent_names()
    counts = {"killed": 0, "survived": 0, "timeout": 0, "equivalent": 0, "no_tests": 0, "other": 0}
    survivors, total = [], 0
    for meta in (base / name / "mutants").rglob("*.py.meta"):
        module_name = str(meta.relative_to(base / name / "mutants"))[:-len(".py.meta")].replace("/", ".")
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            total += 1
            status = status_by_exit_code[code]
            full = key if key.startswith(module_name) else f"{module_name}.{key}"
            if status in ("killed", "timeout", "survived", "no tests"):  # the rest were not run yet
                _tally(counts, survivors, full, status, equivalent)
    tested = sum(counts.values())
    scored = counts["killed"] + counts["timeout"] + counts["survived"] + counts["no_tests"]
    return {"sources": list(module.sources), "mutants": total, "tested": tested, **counts,
            "score": round((counts["killed"] + counts["timeout"]) / scored, 4) if scored else None,
            "survivors": sorted(survivors), "survivor_diffs": [], "complete": False,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def rescore(modules: dict) -> None:
    """Re-classify each complete module's recorded survivors against mutation_equivalent.md (no mutant is run:
    a survivor listed since is *equivalent*, an equivalent no longer listed is a survivor again)."""
    equivalent = equivalent_names()
    for m in modules.values():
        if not m.get("complete", True) or "survivor_diffs" not in m:
            continue
        diffs = {d.split(":", 1)[0][2:]: d for d in m["survivor_diffs"]}
        diffs.update(m.get("equivalent_diffs", {}))
        names = sorted(set(m.get("survivors", [])) | set(m.get("equivalent_diffs", {})))
        m["survivors"] = [n for n in names if n not in equivalent]
        m["survivor_diffs"] = [diffs[n] for n in m["survivors"] if n in diffs]
        m["equivalent"] = m["equivalent"] + m["survived"] - len(m["survivors"])
        m["survived"] = len(m["survivors"])
        m["equivalent_diffs"] = {n: diffs[n] for n in names if n in equivalent and n in diffs}
        scored = m["killed"] + m["timeout"] + m["survived"] + m["no_tests"]
        m["score"] = round((m["killed"] + m["timeout"]) / scored, 4) if scored else None


def main(argv: list[str]) -> int:
    wanted = [m for m in MODULES if (m.default if not argv else "all" in argv or any(a in m.name for a in argv))]
    base = Path(os.environ.get("MUTATION_WORKDIR", "/tmp/meridian-mutation"))
    children = int(os.environ.get("MUTATION_CHILDREN", "2"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "mutation.json"
    known = {m.name for m in MODULES}
    previous = json.loads(out.read_text()).get("modules", {}) if out.exists() else {}
    modules = {k: v for k, v in previous.items() if k in known}
    if argv[:1] == ["--rescore"]:
        rescore(modules)
        doc = write(modules, json.loads(out.read_text()).get("last_run") if out.exists() else None)
        print(json.dumps({"score": doc["score"], "total": doc["total"]}, indent=2))
        return 0 if doc["passed"] else 1
    if argv[:1] == ["--salvage"]:
        for name in argv[1:]:
            modules[name] = salvage(name, base)
        write(modules, json.loads(out.read_text()).get("last_run") if out.exists() else None)
        print(json.dumps({n: {k: modules[n][k] for k in ("mutants", "tested", "score")} for n in argv[1:]}))
        return 0
    started, cpu0 = time.monotonic(), os.times()
    last_run = {"modules": [m.name for m in wanted], "children": children, "finished": []}
    doc = write(modules, last_run)
    for module in wanted:
        print(f"mutating {module.name} ...", flush=True)
        result = run_module(module, base, children)
        modules[module.name] = result
        cpu1 = os.times()
        last_run.update(wall_seconds=round(time.monotonic() - started, 1), cpu_seconds=round(
            (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system), 1))
        last_run["finished"].append(module.name)
        doc = write(modules, last_run)  # after each module, so a partial run keeps what it measured
        print(f"  {module.name}: {result['mutants']} mutants, killed {result['killed']}, timeout "
              f"{result['timeout']}, survived {result['survived']}, equivalent {result['equivalent']}, "
              f"no tests {result['no_tests']}; score {result['score']} ({result['wall_seconds']} s)", flush=True)
    print(json.dumps({"score": doc["score"], "total": doc["total"]}, indent=2))
    print(f"-> {out}")
    return 0 if doc["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
