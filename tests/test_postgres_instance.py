"""The Dagster instance on PostgreSQL (`dagster.postgres.yaml`), against a real server started on loopback.

A CLI data run, a backfill launched by `dagster-daemon run` and the kill switch (the daemon's sensor reading the
book's materialization from the Postgres event log, then `risk_halt_job` writing the lock) behave as they do on the
default SQLite instance: the same runs succeed, the same blocking checks are recorded as passed, the `duckdb`
pool has one slot and is free afterwards, the halt lock is written. Skipped, with the reason, only where no
PostgreSQL server can be started (no binaries; `make setup` installs Debian's `postgresql` when it can).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.conftest import write_config

ROOT = Path(__file__).resolve().parent.parent
MERIDIAN = str(Path(sys.executable).parent / "meridian")
PG_USER, PG_DB = "meridian", "meridian"
LOAD = ("2024-03-18", "2024-03-28")  # the CLI's data run
BACKFILL = ("2024-03-11", "2024-03-15")  # the daemon's backfill (one run: single-run backfill policy)


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout first, then PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackPostgres:
    """A throwaway PostgreSQL cluster listening on 127.0.0.1 only, with password authentication.

    PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` system user (created by
    Debian's package) and its commands run through `runuser`; otherwise as the current user."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.password = secrets.token_hex(12)
        self.port = _free_port()
        self.dir: Path | None = None

    def _as_owner(self, args: list[str]) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(prefix + args, capture_output=True, text=True, timeout=120)

    def start(self) -> str | None:
        """Start the cluster; None, or why it could not be started."""
        if self.bindir is None:
            return "no PostgreSQL server binaries (initdb) on this machine"
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no `postgres` user to own the cluster"
            if not shutil.which("runuser"):
                return "running as root without runuser"
        self.dir = Path(tempfile.mkdtemp(prefix="meridian-pg-"))  # not under pytest's root-only tmp
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            for p in (self.dir, pwfile):
                os.chown(p, owner.pw_uid, owner.pw_gid)
        init = self._as_owner([str(self.bindir / "initdb"), "-D", str(self.dir / "data"), "-U", PG_USER,
                               "--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"])
        if init.returncode:
            return f"initdb failed: {init.stderr.strip()[-300:]}"
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        up = self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-l",
                             str(self.dir / "server.log"), "-w", "-t", "60", "-o", opts, "start"])
        if up.returncode:
            return f"pg_ctl start failed: {(up.stderr or up.stdout).strip()[-300:]}"
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=PG_USER, password=self.password,
                                dbname="postgres")
        try:
            conn.autocommit = True
            conn.cursor().execute(f"CREATE DATABASE {PG_DB}")
        finally:
            conn.close()
        return None

    def env(self) -> dict[str, str]:
        return {"MERIDIAN_PG_HOST": "127.0.0.1", "MERIDIAN_PG_PORT": str(self.port), "MERIDIAN_PG_USER": PG_USER,
                "MERIDIAN_PG_PASSWORD": self.password, "MERIDIAN_PG_DB": PG_DB}

    def stop(self) -> None:
        if self.dir is None:
            return
        if (self.dir / "data" / "postmaster.pid").exists():
            self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


def test_the_postgres_instance_file_is_the_default_one_with_postgres_storage():
    default = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    postgres = yaml.safe_load((ROOT / "dagster.postgres.yaml").read_text())
    db = postgres.pop("storage")["postgres"]["postgres_db"]
    assert postgres == default  # pools, run monitoring, the run queue: the same on both
    # every credential comes from the environment; none is written in the file
    assert {k: v for k, v in db.items() if k != "scheme"} == {
        k: {"env": f"MERIDIAN_PG_{n}"} for k, n in
        (("hostname", "HOST"), ("port", "PORT"), ("username", "USER"), ("password", "PASSWORD"), ("db_name", "DB"))}


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed (make setup installs it)")
    pg = LoopbackPostgres()
    try:
        reason = pg.start()
        if reason:
            pytest.skip(f"no PostgreSQL server: {reason}")
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    """A Meridian home on the small embedded market whose DAGSTER_HOME holds dagster.postgres.yaml; the
    environment of its commands (this process's too, for the module)."""
    home = tmp_path_factory.mktemp("pg_home")
    (home / "dagster").mkdir()
    shutil.copyfile(ROOT / "dagster.postgres.yaml", home / "dagster" / "dagster.yaml")
    cfg = write_config(home)
    env = {"MERIDIAN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "MERIDIAN_CONFIG": str(cfg),
           **server.env()}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    full = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        yield home, cfg, full
    finally:
        mp.undo()


def _check_passed(instance: dg.DagsterInstance, asset: str, name: str, run_id: str) -> bool:
    """Whether the latest evaluation of ``asset``'s check ``name`` is ``run_id``'s and passed."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), name), limit=1)
    return bool(history) and history[0].run_id == run_id and \
        history[0].status == AssetCheckExecutionRecordStatus.SUCCEEDED


def _submit_backfill(instance: dg.DagsterInstance, start: str, end: str) -> str:
    """A backfill of daily_prices over the sessions [start, end], submitted as the UI's "Materialize" of a
    partition range does (an asset backfill, run by the daemon's backfill loop)."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    from meridian_assets.definitions import defs
    from meridian_assets.ingest.jobs import ingest_job

    keys = ingest_job.partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(start, end))
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=defs.resolve_asset_graph(), partition_names=keys,
        asset_selection=[dg.AssetKey("daily_prices")], backfill_timestamp=get_current_timestamp(), tags={},
        dynamic_partitions_store=instance, all_partitions=False, title=None, description=None, run_config=None)
    instance.add_backfill(backfill)
    return backfill.backfill_id


@pytest.mark.slow
def test_cli_runs_a_daemon_backfill_and_the_kill_switch_on_postgres(world):
    from benchmarks.harness import Daemon, wait_for

    from meridian_assets.definitions import build_resources
    from meridian_assets.portfolio.assets import portfolio_book
    from meridian_assets.risk.halt_lock import HaltLock
    from tests.test_kill_switch import book_world

    home, cfg, env = world
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"

    # 1. a CLI run: its run, checks and pool claims go to Postgres
    cli = subprocess.run([MERIDIAN, "data", "--no-filings", "--start", LOAD[0], "--end", LOAD[1]], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-2000:]
    (run,) = instance.get_runs(dg.RunsFilter(job_name="ingest_job"))
    assert run.status == dg.DagsterRunStatus.SUCCESS
    for table in ("universe", "daily_prices", "corporate_actions"):
        assert _check_passed(instance, table, "valid", run.run_id), table
    assert instance.event_log_storage.get_concurrency_info("duckdb").slot_count == 1

    # 2. a backfill, submitted before the daemon starts (its backfill loop wakes every 30 s, and picks this
    # up on its first pass): the daemon turns it into one run, launches it and it succeeds
    backfill_id = _submit_backfill(instance, *BACKFILL)
    instance.dispose()
    with Daemon(env, ROOT / "workspace.yaml", home / "daemon.log") as daemon:
        instance = daemon.instance

        # (the run's end, not the backfill's status: the loop marks the backfill complete on its next pass)
        runs = wait_for(lambda: [r for r in instance.get_runs(dg.RunsFilter.for_backfill(backfill_id))
                                 if r.is_finished], 180, "the backfill's run", poll=0.5)
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS], (home / "daemon.log").read_text()[-3000:]
        assert _check_passed(instance, "daily_prices", "valid", runs[0].run_id)
        loaded = instance.get_materialized_partitions(dg.AssetKey("daily_prices"))
        assert {"2024-03-11", "2024-03-15", "2024-03-18", "2024-03-28"} <= loaded

        # 3. the kill switch: a book past the kill level, materialized into the Postgres event log; the
        # daemon's kill_switch_sensor (5 s ticks) requests risk_halt_job, which the daemon runs and which writes the lock
        lock = HaltLock(home / "risk_halt.lock")
        assert not lock.is_halted()
        session = book_world(home, [100.0, 101.0, 99.0, 98.0, 97.0, 96.0, 95.0, 94.0, 92.0, 90.5])
        assert dg.materialize([portfolio_book], resources=build_resources(str(cfg), str(home / "meridian.duckdb")),
                              instance=instance).success
        halt = wait_for(lambda: [r for r in instance.get_runs(dg.RunsFilter(job_name="risk_halt_job"))
                                 if r.is_finished], 90, "risk_halt_job launched by the kill switch sensor", poll=0.5)
        assert [r.status for r in halt] == [dg.DagsterRunStatus.SUCCESS]
        assert halt[0].tags["dagster/run_key"] == f"halt:{session}:KILL_SWITCH"
        assert lock.is_halted() and "KILL_SWITCH" in lock.read().reason

        # nothing holds the pool once the runs are over
        assert not instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots
