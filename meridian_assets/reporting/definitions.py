"""The reporting domain's Definitions (assets and jobs; the weekly schedule is in `schedules/reporting.py`,
resources are bound by the code location)."""

import dagster as dg

from meridian_assets.reporting.assets import ANALYTICS_ASSETS
from meridian_assets.reporting.document_assets import DOCUMENT_ASSETS
from meridian_assets.reporting.jobs import reporting_job, reporting_weekly_job


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[*ANALYTICS_ASSETS, *DOCUMENT_ASSETS], jobs=[reporting_job, reporting_weekly_job])
