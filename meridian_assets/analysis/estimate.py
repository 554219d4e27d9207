"""What an analysis run would cost, without calling anything (`meridian analyze --estimate-cost`).

For each analyzer: the subjects, those with missing input, the cache hits (unless ``force``), and for the
calls left the input tokens (prompt characters / 4, schema included) and ``analysis.estimate_output_tokens``
of output, priced at the model's input and output rates. The sector analyst's input depends on results not
yet produced; a sector whose candidates will be analysed this run is estimated at about 700 characters
per name. The hard ceiling guard is stricter (it assumes ``max_tokens`` of output).
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext

import duckdb
import polars as pl

from meridian_assets.analysis.analyzers import SECTOR_ANALYZER, TICKER_ANALYZERS
from meridian_assets.analysis.analyzers.base import Analyzer
from meridian_assets.analysis.cache import AnalysisCache
from meridian_assets.analysis.client import Usage, schema_json
from meridian_assets.analysis.costs import call_cost, estimate_tokens, price_for
from meridian_assets.analysis.prompts import system_prompt
from meridian_assets.analysis.settings import AnalysisConfig
from meridian_assets.analysis.store import Store
from meridian_assets.analysis.structured import answer_schema

SECTOR_CHARS_PER_NAME = 700


def _row(analyzer: Analyzer, cfg: AnalysisConfig, subjects: int, no_input: int, cached: int,
         chars: list[int]) -> dict:
    task = cfg.task(analyzer.name)
    tokens_in = sum(estimate_tokens(c) for c in chars)
    tokens_out = cfg.estimate_output_tokens * len(chars)
    usd = call_cost(price_for(cfg.pricing, task.model), Usage(input_tokens=tokens_in, output_tokens=tokens_out))
    return {"analyzer": analyzer.name, "provider": task.provider, "model": task.model, "subjects": subjects,
            "no_input": no_input, "cached": cached, "calls": len(chars), "input_tokens": tokens_in,
            "output_tokens": tokens_out, "usd": round(usd, 4)}


def estimate_run(conn: duckdb.DuckDBPyConnection, cfg: AnalysisConfig, candidates: pl.DataFrame, as_of: dt.date,
                 *, force: bool = False, now: dt.datetime | None = None) -> pl.DataFrame:
    """One row per analyzer: subjects, no_input, cached, calls, input/output tokens and dollars."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    cache = AnalysisCache(Store(lambda: nullcontext(conn)), cfg.cache_ttl_days)
    rows, will_have = [], set()
    for analyzer in TICKER_ANALYZERS:
        inputs = analyzer.load(conn, candidates, as_of, cfg)
        fresh = {} if force else cache.fresh_keys(analyzer.name, now)
        schema_chars = len(schema_json(answer_schema(analyzer.answer_model)))
        chars, cached, missing = [], 0, 0
        for subject, inp in inputs.items():
            if inp is None:
                missing += 1
                continue
            will_have.add(subject)
            if (subject, inp.artifact_id) in fresh:
                cached += 1
                continue
            system, user = analyzer.prompt(inp)
            chars.append(len(system) + len(user) + schema_chars)
        rows.append(_row(analyzer, cfg, len(inputs), missing, cached, chars))
    sector_inputs = SECTOR_ANALYZER.load(conn, candidates, as_of, cfg)
    fresh = {} if force else cache.fresh_keys(SECTOR_ANALYZER.name, now)
    schema_chars = len(schema_json(answer_schema(SECTOR_ANALYZER.answer_model)))
    chars, cached, missing = [], 0, 0
    for sector, inp in sector_inputs.items():
        names = candidates.filter(pl.col("sector") == sector)["ticker"].to_list()
        if inp is not None and (sector, inp.artifact_id) in fresh:
            cached += 1
        elif inp is not None:
            system, user = SECTOR_ANALYZER.prompt(inp)
            chars.append(len(system) + len(user) + schema_chars)
        elif len(names) >= 2 and will_have & set(names):
            chars.append(schema_chars + len(system_prompt(SECTOR_ANALYZER.name))
                         + SECTOR_CHARS_PER_NAME * len(names))
        else:
            missing += 1
    rows.append(_row(SECTOR_ANALYZER, cfg, len(sector_inputs), missing, cached, chars))
    return pl.DataFrame(rows)
