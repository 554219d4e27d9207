"""Versioned configs of the sleeves and of the allocation, in DuckDB: append-only versions plus a change log.

A config is addressed by ``config_key`` = ``sleeve:<name>`` or ``allocation:sleeve_allocation``. Each change
writes a new version (``max + 1``) with its content and SHA-256; nothing is updated in place, so every earlier
config stays readable and a revert is a new version whose content is the old one, byte for byte. The first read
in a writing context seeds version 1 of every shipped sleeve and of the default allocation policy (action SEED
in `config_change_log`); a sleeve added to the shipped list later is seeded the same way.

`append_rows` is the one insert of this package's append-only tables: rows keyed by a fresh ``change_id`` (or
proposal id), inside the caller's `storage.transaction`, so a change, its log entry and the proposal's status
are written together or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import duckdb
import polars as pl

from meridian_assets.errors import ConfigError
from meridian_assets.tables import TableSchema
from meridian_assets.meta.schemas import CONFIG_CHANGE_LOG, META_CONFIG_VERSIONS
from meridian_assets.meta.sleeves import AllocationPolicy, Sleeve, builtin_sleeves, canonical_json, content_hash
from meridian_assets.storage import ensure_table, read, table_exists, transaction

SLEEVE, ALLOCATION = "sleeve", "allocation"
ALLOCATION_NAME = "sleeve_allocation"
ALLOCATION_KEY = f"{ALLOCATION}:{ALLOCATION_NAME}"
# proposal target type -> the kind of config it changes
TARGET_KIND = {"STRATEGY_CONFIG": SLEEVE, "RISK_CONFIG": SLEEVE, "ALLOCATION_CONFIG": ALLOCATION}


def config_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def key_for_target(target_type: str, target_id: str) -> str:
    kind = TARGET_KIND.get(target_type)
    if kind is None:
        raise ConfigError(f"unknown target type {target_type!r}; expected one of {', '.join(TARGET_KIND)}")
    return config_key(kind, target_id)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def change_id(*parts: object) -> str:
    return "chg-" + hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ConfigVersion:
    key: str
    version: int
    kind: str
    name: str
    doc: dict
    hash: str
    created_at: dt.datetime
    created_by: str

    @property
    def json(self) -> str:
        return canonical_json(self.doc)


def append_rows(conn: duckdb.DuckDBPyConnection, schema: TableSchema, frame: pl.DataFrame) -> int:
    """Insert conformed rows (inside the caller's transaction); the rows carry fresh keys, so nothing repeats."""
    ensure_table(conn, schema)
    rows = schema.conform(frame)  # noqa: F841  (read by name in the SQL)
    cols = ", ".join(f'"{c}"' for c in schema.columns)
    conn.execute(f'INSERT INTO "{schema.name}" ({cols}) SELECT {cols} FROM rows')
    return frame.height


def _version_row(key: str, version: int, kind: str, name: str, doc: dict, by: str, cid: str, note: str | None):
    return {"config_key": key, "version": version, "kind": kind, "name": name, "config_json": canonical_json(doc),
            "config_hash": content_hash(doc), "created_at": now(), "created_by": by, "change_id": cid,
            "note": note}


def _log_row(cid: str, *, key: str, action: str, before: ConfigVersion | None, after: dict, to_version: int,
             by: str, applied_by: str | None, proposal_id: str | None = None, target_type: str | None = None,
             target_id: str | None = None, note: str | None = None) -> dict:
    return {"change_id": cid, "proposal_id": proposal_id, "config_key": key, "target_type": target_type,
            "target_id": target_id, "action": action, "from_version": before.version if before else None,
            "to_version": to_version, "before_json": before.json if before else None,
            "after_json": canonical_json(after), "before_hash": before.hash if before else None,
            "after_hash": content_hash(after), "changed_by": by, "applied_by": applied_by, "changed_at": now(),
            "note": note}


def versions(conn: duckdb.DuckDBPyConnection, key: str | None = None) -> pl.DataFrame:
    """Every stored version (of one key), oldest first."""
    if not table_exists(conn, META_CONFIG_VERSIONS.name):
        return META_CONFIG_VERSIONS.empty()
    sql = f'SELECT * FROM "{META_CONFIG_VERSIONS.name}"' + (" WHERE config_key = ?" if key else "")
    return read(conn, sql + " ORDER BY config_key, version", [key] if key else None)


def _to_version(row: dict) -> ConfigVersion:
    return ConfigVersion(row["config_key"], int(row["version"]), row["kind"], row["name"],
                         json.loads(row["config_json"]), row["config_hash"], row["created_at"], row["created_by"])


def current(conn: duckdb.DuckDBPyConnection) -> dict[str, ConfigVersion]:
    """The version in force of every key (the highest)."""
    v = versions(conn)
    if v.is_empty():
        return {}
    latest = v.sort("version").group_by("config_key", maintain_order=True).last()
    return {r["config_key"]: _to_version(r) for r in latest.iter_rows(named=True)}


def version(conn: duckdb.DuckDBPyConnection, key: str, number: int) -> ConfigVersion | None:
    v = versions(conn, key).filter(pl.col("version") == number)
    return _to_version(v.row(0, named=True)) if v.height else None


def defaults() -> dict[str, tuple[str, str, dict]]:
    """key -> (kind, name, doc) of every shipped config."""
    out = {config_key(SLEEVE, s.name): (SLEEVE, s.name, s.doc()) for s in builtin_sleeves()}
    out[ALLOCATION_KEY] = (ALLOCATION, ALLOCATION_NAME, AllocationPolicy().doc())
    return out


def seed(conn: duckdb.DuckDBPyConnection, by: str = "builtin") -> list[str]:
    """Write version 1 of every shipped config that has no version yet; returns the keys seeded."""
    have = set(current(conn))
    missing = {k: v for k, v in defaults().items() if k not in have}
    if not missing:
        return []
    vrows, lrows = [], []
    for key, (kind, name, doc) in sorted(missing.items()):
        cid = change_id("seed", key, content_hash(doc))
        vrows.append(_version_row(key, 1, kind, name, doc, by, cid, "shipped default"))
        lrows.append(_log_row(cid, key=key, action="SEED", before=None, after=doc, to_version=1, by=by,
                              applied_by=None, note="shipped default"))
    with transaction(conn):
        append_rows(conn, META_CONFIG_VERSIONS, pl.DataFrame(vrows))
        append_rows(conn, CONFIG_CHANGE_LOG, pl.DataFrame(lrows))
    return sorted(missing)


def write_change(conn: duckdb.DuckDBPyConnection, *, key: str, doc: dict, action: str, by: str,
                 applied_by: str | None, expect_version: int, proposal_id: str | None = None,
                 target_type: str | None = None, target_id: str | None = None, note: str | None = None) -> int:
    """Write ``doc`` as the next version of ``key`` and its change-log entry, inside the caller's transaction.

    Refuses (ConfigError) unless the version in force is ``expect_version``: a change computed against a config
    that has moved on since would silently discard the newer version."""
    cur = current(conn).get(key)
    if cur is None:
        raise ConfigError(f"{key}: no such config (seed the shipped configs first)")
    if cur.version != expect_version:
        raise ConfigError(f"{key} is at version {cur.version}, not {expect_version}: it changed since; "
                          "re-run the proposals against the config in force")
    new = cur.version + 1
    cid = change_id(action, key, new, proposal_id, content_hash(doc))
    append_rows(conn, META_CONFIG_VERSIONS,
                pl.DataFrame([_version_row(key, new, cur.kind, cur.name, doc, by, cid, note)]))
    append_rows(conn, CONFIG_CHANGE_LOG, pl.DataFrame([_log_row(
        cid, key=key, action=action, before=cur, after=doc, to_version=new, by=by, applied_by=applied_by,
        proposal_id=proposal_id, target_type=target_type, target_id=target_id, note=note)]))
    return new


def sleeves_in_force(conn: duckdb.DuckDBPyConnection) -> list[tuple[Sleeve, int]]:
    """(sleeve, version) of every sleeve config in force, by name."""
    from meridian_assets.meta.sleeves import parse_sleeve

    out = [(parse_sleeve(v.doc), v.version) for k, v in sorted(current(conn).items()) if v.kind == SLEEVE]
    return out


def policy_in_force(conn: duckdb.DuckDBPyConnection) -> tuple[AllocationPolicy, int]:
    from meridian_assets.meta.sleeves import parse_policy

    cur = current(conn).get(ALLOCATION_KEY)
    return (parse_policy(cur.doc), cur.version) if cur else (AllocationPolicy(), 0)


def change_log(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    if not table_exists(conn, CONFIG_CHANGE_LOG.name):
        return CONFIG_CHANGE_LOG.empty()
    return read(conn, f'SELECT * FROM "{CONFIG_CHANGE_LOG.name}" ORDER BY changed_at, change_id')
