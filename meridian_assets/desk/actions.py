"""Every desk action is a Dagster run launched through the webserver's GraphQL API, so it shows in the Dagster
UI, waits for the `duckdb` pool, passes the gates and the halt lock like any other run, and can be followed
here by its status. The desk never executes a job itself and cannot trade live: a live account needs the
operator's typed confirmation at `meridian execute --execute`, bound to that command's own run id
(`execution/live_gate.py`), which no run launched here has."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from meridian_assets.config import MeridianConfig
from meridian_assets.reporting.partitions import WEEKLY_JOB
from meridian_assets.serving.jobs import SERVING_SNAPSHOT_JOB

LOCATION = "meridian"
REPOSITORY = "__repository__"
SOURCE_TAG = {"meridian/source": "desk"}
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass(frozen=True)
class Action:
    """A run the desk can launch: its job, run config, and asset selection (None: the whole job)."""

    label: str
    job: str
    run_config: dict
    assets: tuple[str, ...] | None = None
    partition: str | None = None


def decide(rebalance_id: str, decision: str, by: str = "desk", rejected: Iterable[str] = ()) -> Action:
    """Approve (release to the broker; `approved_rebalance_sensor` then launches execution) or reject. With an
    approval, ``rejected`` are the candidates the PM refused on their cards: `position_approvals` records their
    trades REJECTED and the execution plan skips them."""
    if decision not in ("approve", "reject"):
        raise ValueError(f"decision must be approve or reject, got {decision!r}")
    config = {"rebalance_id": rebalance_id, "decision": decision, "decided_by": by}
    refused = sorted(set(rejected)) if decision == "approve" else []
    if refused:
        config["rejected_tickers"] = refused
    label = f"{decision.title()} {rebalance_id}" + (f" without {', '.join(refused)}" if refused else "")
    return Action(label, "portfolio_approve_job", {"ops": {"position_approvals": {"config": config}}})


def propose(method: str) -> Action:
    """A what-if proposal with the chosen optimizer (commits nothing)."""
    return Action(f"Propose ({method})", "portfolio_rebalance_job",
                  {"ops": {"rebalance_proposal": {"config": {"optimize_method": method}}}})


EXECUTE_ASSETS = ("execution_plan", "execution_fills", "broker_positions", "short_availability",
                  "execution_reconciliation", "slippage_summary")


def execute(rebalance_id: str) -> Action:
    op = {"config": {"rebalance_id": rebalance_id, "scored_csv": ""}}
    return Action(f"Execute {rebalance_id}", "execution_job", {"ops": {"execution_plan": op, "execute_rebalance": op}},
                  assets=EXECUTE_ASSETS)


def regenerate_letter(as_of: str) -> Action:
    """The LP letter of ``as_of`` written again (`reporting_job`, `lp_letter` only, forced)."""
    return Action("Regenerate the LP letter", "reporting_job",
                  {"ops": {"lp_letter": {"config": {"force": True, "as_of": as_of}}}}, assets=("lp_letter",))


WEEKLY_PDF_ASSETS = ("weekly_change_summary", "weekly_report_pdf")


def regenerate_weekly_pdf(week: str) -> Action:
    """The weekly PDF of the week keyed ``week`` (its Monday) built again: `reporting_weekly_job` on that partition,
    the week's change summary (the PDF's stored context) and the PDF."""
    return Action(f"Regenerate the weekly PDF ({week})", WEEKLY_JOB, {}, assets=WEEKLY_PDF_ASSETS, partition=week)


def publish_snapshot() -> Action:
    return Action("Publish the desk snapshot", SERVING_SNAPSHOT_JOB, {})


class Launcher:
    """`DagsterGraphQLClient` on the configured webserver (desk.dagster_host / dagster_port)."""

    def __init__(self, cfg: MeridianConfig, client=None) -> None:
        if client is None:
            from dagster_graphql import DagsterGraphQLClient

            client = DagsterGraphQLClient(cfg.desk.dagster_host, port_number=cfg.desk.dagster_port, timeout=30)
        self.client = client

    def launch(self, action: Action) -> str:
        """The new run's id (`DagsterGraphQLClientError` when the webserver refuses it, e.g. bad config)."""
        kwargs = {}
        if action.assets is not None:
            import dagster as dg

            kwargs["asset_selection"] = [dg.AssetKey(a) for a in action.assets]
        tags = dict(SOURCE_TAG)
        if action.partition:
            tags["dagster/partition"] = action.partition
        return self.client.submit_job_execution(action.job, repository_location_name=LOCATION,
                                                repository_name=REPOSITORY, run_config=action.run_config, tags=tags,
                                                **kwargs)

    def status(self, run_id: str) -> str:
        return self.client.get_run_status(run_id).value
