"""The risk domain's jobs.

`risk_check_job` marks the book to market and refreshes the risk state (the daily schedule in
`schedules/risk.py`, `meridian risk`); `kill_switch_sensor` reads its result. `risk_halt_job` is the kill switch's
action (`kill_switch.halt_lock`): launched by `kill_switch_sensor`, outside the DuckDB pool and in the run's own
process, so it starts even while a backfill holds the database.
"""

import dagster as dg

from meridian_assets.risk.kill_switch import halt_lock

BOOK = ["portfolio_positions", "portfolio_history"]  # the portfolio's book, marked before the risk state reads it

risk_check_job = dg.define_asset_job(
    "risk_check_job", selection=dg.AssetSelection.assets(*BOOK, "risk_state"),
    description="Mark the book to market and refresh the risk state (breakers, monitors, stress); "
                "the kill_switch_sensor reads the result.")

risk_halt_job = dg.define_asset_job(
    "risk_halt_job", selection=dg.AssetSelection.assets(halt_lock.key), executor_def=dg.in_process_executor,
    description="Kill switch: write the halt lock and cancel every open order (launched by kill_switch_sensor).")
