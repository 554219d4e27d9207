"""The blocking check on the factor scores: in [0, 100], one row per (date, ticker), every sector with a LONG
and a SHORT name. It is a spec of `factor_scores` itself, evaluated on the staged rows before they are
published (see `ingest.checks`); the rules are in `meridian_assets.factors.validation.score_violations`."""

SCORES_VALID = ("scores within [0, 100], one row per (date, ticker), no name both LONG and SHORT, every sector "
                "with 2+ names has a LONG and a SHORT name on every date")

# The blocking `valid` check is a spec of `factor_scores`; no separate check reads the published rows.
FACTOR_CHECKS: list = []
