"""The Layer-3 tables: the analysis cache, the audit archive of every LLM call, and the combined scores.

Traceability: a number in `combined_scores` comes from `analysis_results` rows (``score``), each of which
names the `llm_calls` row that produced it (``call_id``); that row holds the exact prompt, model,
parameters, raw output, usage and cost. API keys are never written to any of them.
"""

from __future__ import annotations

import polars as pl

from meridian_assets.tables import Bool, Date, Float, Int, Str, TableSchema

Timestamp = pl.Datetime("us")

ANALYSIS_RESULTS = TableSchema(
    name="analysis_results",
    columns={
        "result_id": Str,  # "{analyzer}|{ticker}|{artifact_id}": the cache key as one column
        "analyzer": Str,  # earnings | filing | risk_factor | insider | sector
        "ticker": Str,  # the subject: a ticker, or the sector name for the sector analyzer
        "artifact_id": Str,  # what was analysed: transcript id, 10-K accession(s), a hash of the ratios/Form 4 rows
        "as_of": Date,  # the scored session the inputs were taken as known on
        "sector": Str,
        "status": Str,  # ok | invalid (an invalid answer is kept for the record and never used)
        "score": Float,  # the analyzer's fundamental sub-score, 0-100 (null: invalid, or not blended)
        "summary": Str,
        "result_json": Str,  # the validated answer (ok) or the raw answer (invalid)
        "error": Str,  # why the answer is invalid
        "provider": Str,
        "model": Str,
        "prompt_version": Str,  # hash of the prompt templates used
        "call_id": Str,  # the llm_calls row that produced it
        "run_id": Str,
        "created_at": Timestamp,  # UTC; the cache TTL counts from here
    },
    key=("result_id",),
    partition_column=None,
    description="Every analyzer output keyed by (analyzer, ticker, artifact id): the analysis cache "
    "(re-running an artifact within the TTL is free) and the LLM side of the combined score.",
    not_null=("result_id", "analyzer", "ticker", "artifact_id", "status", "created_at"),
)

LLM_CALLS = TableSchema(
    name="llm_calls",
    columns={
        "call_id": Str,
        "run_id": Str,
        "budget": Str,  # the ceiling it counts against: analysis | commentary | chat | ...
        "task": Str,  # earnings | filing | ... | weekly_summary | lp_letter | ...
        "subject": Str,  # ticker, sector or document the call is about
        "artifact_id": Str,
        "provider": Str,
        "model": Str,
        "params_json": Str,  # max_tokens, temperature, schema name, cache_control
        "system_prompt": Str,
        "user_prompt": Str,
        "schema_json": Str,  # the JSON schema of the structured answer asked for
        "output": Str,  # tool-use input as JSON, else the answer text
        "status": Str,  # ok | invalid | error
        "error": Str,
        "input_tokens": Int,  # uncached
        "output_tokens": Int,
        "cache_read_tokens": Int,
        "cache_write_tokens": Int,
        "cost_usd": Float,
        "response_id": Str,
        "stop_reason": Str,
        "duration_ms": Int,
        "created_at": Timestamp,  # UTC
    },
    key=("call_id",),
    partition_column=None,
    description="Audit archive: every LLM call's input, model, parameters, output, usage and cost, by run. "
    "Append-only; secrets are never stored.",
    not_null=("call_id", "run_id", "budget", "task", "provider", "model", "status", "created_at"),
)

COMBINED_SCORES = TableSchema(
    name="combined_scores",
    columns={
        "date": Date,
        "ticker": Str,
        "sector": Str,
        "composite": Float,  # the Layer-2 quant composite, 0-100 within sector
        "llm_score": Float,  # mean of the available analyzer sub-scores, 0-100 (null: not analysed)
        "combined_score": Float,  # quant_weight * composite + llm_weight * llm_score; = composite when not analysed
        "sector_rank": Int,  # 1 = best combined score in its sector that day
        "sector_size": Int,
        "long_flag": Bool,  # top quintile of combined score within sector (scoring.quintile)
        "short_flag": Bool,
        "analyzed": Bool,
        "n_analyzers": Int,  # how many analyzer sub-scores the LLM score averages
    },
    key=("date", "ticker"),
    partition_column="date",
    description="0.6 x quant composite + 0.4 x LLM fundamental score (names without analysis stay 100% quant), "
    "re-ranked within sector and re-flagged on the scoring quintile. Layer 4 uses it when it has the date.",
    not_null=("date", "ticker", "sector", "composite", "combined_score", "long_flag", "short_flag", "analyzed"),
)

LAYER3_TABLES = (ANALYSIS_RESULTS, LLM_CALLS, COMBINED_SCORES)
