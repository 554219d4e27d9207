"""A DuckDB table's contract: its columns, key, partition column and the DDL that creates it.

Base: storage writes any `TableSchema`, and each domain's `schemas.py` declares its tables with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

Date, Float, Int, Str, Bool = pl.Date, pl.Float64, pl.Int64, pl.Utf8, pl.Boolean


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: dict[str, pl.DataType]
    key: tuple[str, ...]
    # Column whose value is the trading date a row belongs to for partitioning (None: unpartitioned).
    partition_column: str | None
    description: str
    not_null: tuple[str, ...] = field(default=())

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema(self.columns)

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.columns)

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """Select and cast to the schema's columns in order; missing columns become nulls."""
        exprs = []
        for col, dtype in self.columns.items():
            if col in df.columns:
                exprs.append(pl.col(col).cast(dtype, strict=False))
            else:
                exprs.append(pl.lit(None, dtype=dtype).alias(col))
        return df.select(exprs) if df.height else self.empty()

    def ddl(self) -> str:
        cols = ", ".join(f'"{c}" {_duck_type(t)}' for c, t in self.columns.items())
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" ({cols})'

    def add_column_ddl(self, col: str) -> str:
        return f'ALTER TABLE "{self.name}" ADD COLUMN IF NOT EXISTS "{col}" {_duck_type(self.columns[col])}'


def _duck_type(t: pl.DataType) -> str:
    if t == pl.Date:
        return "DATE"
    if t == pl.Float64:
        return "DOUBLE"
    if t == pl.Int64:
        return "BIGINT"
    if t == pl.Boolean:
        return "BOOLEAN"
    if t == pl.Datetime:
        return "TIMESTAMP"
    return "VARCHAR"
