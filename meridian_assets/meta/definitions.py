"""The meta domain's Definitions: its assets, `meta_proposal_job` (weekly, `schedules/meta.py`),
`meta_apply_job` (decisions on proposals; launched for eligible ones by `proposal_sensor` in `sensors/meta.py`),
`meta_backtest_job` (`meridian backtest`), and the fanned-out sleeve backtests' `meta_research_plan_job` and
`meta_research_sleeves_job` (one run over the sleeve partitions, steps side by side).
Resources are bound by the code location: "db", "settings"."""

import dagster as dg

from meridian_assets.meta.assets import GROUP, META_ASSETS
from meridian_assets.meta.fanout_assets import RESEARCH_ASSETS
from meridian_assets.meta.jobs import (
    meta_apply_job, meta_backtest_job, meta_proposal_job, meta_research_plan_job, meta_research_sleeves_job,
)
from meridian_assets.meta.proposal_assets import PROPOSAL_ASSETS

__all__ = ["GROUP", "defs", "meta_apply_job", "meta_backtest_job", "meta_proposal_job"]


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[*META_ASSETS, *PROPOSAL_ASSETS, *RESEARCH_ASSETS],
                          jobs=[meta_proposal_job, meta_apply_job, meta_backtest_job, meta_research_plan_job,
                                meta_research_sleeves_job])
