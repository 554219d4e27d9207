"""Deciding on a proposal: apply it (a new config version + a `config_change_log` entry), reject it, or revert an
applied one exactly — and the auto-apply policy.

    PENDING ──approve──▶ APPLIED ──revert──▶ REVERTED
       └─────reject───▶ REJECTED

* **Apply** (HUMAN via `meridian meta approve`, or AUTO via the proposal sensor): refused unless the config in
  force is still the one the proposal was computed against (same version and hash), so a stale proposal never
  discards a newer change. AUTO applies only what `auto_apply_allowed` allows.
* **Revert**: writes the proposal's snapshot of the previous config back as a new version — the content is
  byte-identical (same SHA-256) to what was in force before — refused if the config changed since the apply.
* Each decision is one transaction: the version, the change-log entry and the proposal's status together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import polars as pl

from meridian_assets.errors import ConfigError, MeridianError
from meridian_assets.meta import config_store as store
from meridian_assets.meta.schemas import META_PROPOSALS
from meridian_assets.meta.settings import MetaConfig
from meridian_assets.storage import read, table_exists, transaction

PENDING, APPROVED, REJECTED, APPLIED, REVERTED = "PENDING", "APPROVED", "REJECTED", "APPLIED", "REVERTED"
AUTO, HUMAN = "AUTO", "HUMAN"


class ProposalError(MeridianError):
    """A proposal cannot be decided as asked (unknown, wrong status, stale, or not allowed automatically)."""


@dataclass(frozen=True)
class Outcome:
    proposal_id: str
    action: str
    status: str
    config_key: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    before_hash: str | None = None
    after_hash: str | None = None
    message: str = ""


def auto_apply_allowed(target_type: str, confidence: float | None, data_sufficient: bool | None,
                       cfg: MetaConfig) -> tuple[bool, str]:
    """Whether a proposal may be applied without a human, and why not."""
    if not data_sufficient:
        return False, "data insufficient: a human decides"
    if target_type not in cfg.auto_apply_target_types:
        return False, f"{target_type} is not auto-applied (meta.auto_apply_target_types)"
    if confidence is None or confidence < cfg.auto_apply_min_confidence:
        return False, f"confidence {confidence or 0:.2f} below {cfg.auto_apply_min_confidence:.2f}"
    return True, "eligible"


def load(conn: duckdb.DuckDBPyConnection, proposal_id: str | None = None, status: str | None = None) -> pl.DataFrame:
    if not table_exists(conn, META_PROPOSALS.name):
        return META_PROPOSALS.empty()
    where, params = [], []
    if proposal_id:
        where.append("proposal_id = ?"), params.append(proposal_id)
    if status:
        where.append("status = ?"), params.append(status)
    sql = f'SELECT * FROM "{META_PROPOSALS.name}"' + (" WHERE " + " AND ".join(where) if where else "")
    return read(conn, sql + " ORDER BY created_at, proposal_id", params)


def _one(conn, proposal_id: str) -> dict:
    rows = load(conn, proposal_id)
    if rows.is_empty():
        raise ProposalError(f"no proposal {proposal_id!r}: `meridian meta proposals` lists them")
    return rows.row(0, named=True)


def _set(conn, proposal_id: str, **values) -> None:
    cols = ", ".join(f'"{k}" = ?' for k in values)
    conn.execute(f'UPDATE "{META_PROPOSALS.name}" SET {cols} WHERE proposal_id = ?', [*values.values(), proposal_id])


def apply(conn: duckdb.DuckDBPyConnection, proposal_id: str, *, by: str, applied_by: str, cfg: MetaConfig) -> Outcome:
    p = _one(conn, proposal_id)
    if p["status"] not in (PENDING, APPROVED):
        raise ProposalError(f"{proposal_id} is {p['status']}: only a PENDING proposal can be applied")
    if applied_by == AUTO:
        ok, why = auto_apply_allowed(p["target_type"], p["confidence"], p["data_sufficient"], cfg)
        if not ok:
            raise ProposalError(f"{proposal_id} is not applied automatically: {why}; it stays PENDING")
    cur = store.current(conn).get(p["config_key"])
    if cur is None or cur.version != p["current_version"] or cur.hash != p["current_config_hash"]:
        raise ProposalError(f"{proposal_id} is stale: {p['config_key']} is at version "
                            f"{cur.version if cur else '?'}, the proposal was made against version "
                            f"{p['current_version']}; reject it and run the proposals again")
    doc = json.loads(p["proposed_config_json"])
    now = store.now()
    with transaction(conn):
        new = store.write_change(conn, key=p["config_key"], doc=doc, action="APPLY", by=by, applied_by=applied_by,
                                 expect_version=cur.version, proposal_id=proposal_id, target_type=p["target_type"],
                                 target_id=p["target_id"], note=p["rule"])
        _set(conn, proposal_id, status=APPLIED, decided_at=now, decided_by=by, applied_at=now,
             applied_by=applied_by, applied_version=new)
    return Outcome(proposal_id, "apply", APPLIED, p["config_key"], cur.version, new, cur.hash,
                   store.content_hash(doc), f"{p['config_key']} v{cur.version} -> v{new}")


def reject(conn: duckdb.DuckDBPyConnection, proposal_id: str, *, by: str) -> Outcome:
    p = _one(conn, proposal_id)
    if p["status"] not in (PENDING, APPROVED):
        raise ProposalError(f"{proposal_id} is {p['status']}: only a PENDING proposal can be rejected")
    with transaction(conn):
        _set(conn, proposal_id, status=REJECTED, decided_at=store.now(), decided_by=by)
    return Outcome(proposal_id, "reject", REJECTED, p["config_key"], message=f"rejected by {by}")


def revert(conn: duckdb.DuckDBPyConnection, proposal_id: str, *, by: str) -> Outcome:
    p = _one(conn, proposal_id)
    if p["status"] != APPLIED:
        raise ProposalError(f"{proposal_id} is {p['status']}: only an APPLIED proposal can be reverted")
    cur = store.current(conn).get(p["config_key"])
    if cur is None or cur.version != p["applied_version"]:
        raise ProposalError(f"{proposal_id} cannot be reverted: {p['config_key']} moved on to version "
                            f"{cur.version if cur else '?'} after this proposal's version {p['applied_version']}; "
                            "revert the later changes first")
    before = json.loads(p["current_config_snapshot_json"])
    if store.content_hash(before) != p["current_config_hash"]:
        raise ConfigError(f"{proposal_id}: its snapshot does not match its recorded hash; refusing to revert")
    with transaction(conn):
        new = store.write_change(conn, key=p["config_key"], doc=before, action="REVERT", by=by, applied_by=HUMAN,
                                 expect_version=cur.version, proposal_id=proposal_id, target_type=p["target_type"],
                                 target_id=p["target_id"], note=f"revert of {proposal_id}")
        _set(conn, proposal_id, status=REVERTED, reverted_at=store.now(), reverted_by=by)
    return Outcome(proposal_id, "revert", REVERTED, p["config_key"], cur.version, new, cur.hash,
                   store.content_hash(before),
                   f"{p['config_key']} v{cur.version} -> v{new} (= v{p['current_version']})")


def decide(conn: duckdb.DuckDBPyConnection, proposal_id: str, action: str, *, by: str, applied_by: str,
           cfg: MetaConfig) -> Outcome:
    if action in ("apply", "approve"):
        return apply(conn, proposal_id, by=by, applied_by=applied_by, cfg=cfg)
    if action == "reject":
        return reject(conn, proposal_id, by=by)
    if action == "revert":
        return revert(conn, proposal_id, by=by)
    raise ProposalError(f"action must be approve, reject or revert, got {action!r}")
