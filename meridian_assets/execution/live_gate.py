"""The two gates in front of a live (real-money) account, and the paper account's endpoint check.

**Gate 1, the config:** ``execution.mode: live`` with ``execution.broker: alpaca``.
**Gate 2, a person, for this run:** `meridian execute --execute` asks the operator to type
``YES I UNDERSTAND THE RISKS``; only then does it write a one-time confirmation file
``$MERIDIAN_HOME/execution/live_confirmations/<run id>.json`` for the Dagster run id it is about to launch
(and the rebalance id when given). The run consumes it (an atomic rename, so it works once) before any
submit. Nothing in a run config, a sensor or a schedule can create it: a run launched any other way — the
`approved_rebalance_sensor`, the UI, a schedule — gets its own run id, finds no file, and its live client
reads and cancels but refuses every submit. A confirmation expires after ``TTL_SECONDS``.

**Paper means paper.** In paper mode the trading endpoint must be Alpaca's paper host
(``paper-api.alpaca.markets``) or a loopback address (test stubs); any other URL — above all the live host
``api.alpaca.markets`` from ``ALPACA_TRADING_URL`` or the resource's ``alpaca_url`` — is refused before a
client is built, because alpaca-py lets a URL override win over ``paper=True``.

The files hold no secret: run id, rebalance id and times only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from meridian_assets.errors import ConfigError

LIVE_CONFIRMATION = "YES I UNDERSTAND THE RISKS"
PAPER_HOST = "paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"
TTL_SECONDS = 15 * 60
_LOOPBACK_NAMES = {"localhost"}


def endpoint_host(url: str) -> str:
    """The host of ``url`` (lower case; credentials and port dropped), for messages and checks."""
    return (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower()


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_paper_endpoint(url: str | None) -> None:
    """`ConfigError` unless ``url`` (None: alpaca-py's paper default) is the paper host or loopback."""
    if url is None:
        return
    host = endpoint_host(url)
    if host == PAPER_HOST or is_loopback(host):
        return
    what = "Alpaca's LIVE endpoint" if host == LIVE_HOST else "not Alpaca's paper endpoint"
    raise ConfigError(f"execution.mode is paper but the trading URL points at {host or url!r} ({what}); a paper run "
                      f"only trades on {PAPER_HOST}: unset ALPACA_TRADING_URL / alpaca_url, or use "
                      "execution.mode: live with the operator's confirmation")


@dataclass(frozen=True)
class Confirmation:
    run_id: str
    rebalance_id: str | None
    issued_at: str
    expires_at: str


class LiveConfirmations:
    """One-time confirmation files, one per Dagster run id (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, run_id: str) -> Path:
        if not run_id or any(c in run_id for c in "/\\."):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.folder / f"{run_id}.json"

    def issue(self, run_id: str, rebalance_id: str | None, now: dt.datetime | None = None,
              ttl_seconds: int = TTL_SECONDS) -> Confirmation:
        """Record that a person typed the phrase for ``run_id`` (call only after the prompt)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        conf = Confirmation(run_id, rebalance_id or None, now.isoformat(),
                            (now + dt.timedelta(seconds=ttl_seconds)).isoformat())
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(run_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(conf.__dict__, f)
            f.flush()
            os.fsync(f.fileno())
        return conf

    def discard(self, run_id: str) -> None:
        """Remove a confirmation its run never used (the run failed before trading)."""
        self._path(run_id).unlink(missing_ok=True)

    def consume(self, run_id: str, rebalance_id: str, now: dt.datetime | None = None) -> tuple[bool, str]:
        """(True, "") once for a confirmed, unexpired run of ``rebalance_id``; else (False, why)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        path = self._path(run_id)
        used = path.with_suffix(".used")
        try:
            os.rename(path, used)  # atomic: a second consumer finds nothing
        except FileNotFoundError:
            return False, (f"no operator confirmation for run {run_id}: only `meridian execute --execute`, after "
                           f"the typed '{LIVE_CONFIRMATION}', can start a live run")
        try:
            doc = json.loads(used.read_text())
            expires = dt.datetime.fromisoformat(doc["expires_at"])
            bound = doc.get("rebalance_id")
        except (OSError, ValueError, KeyError) as err:
            return False, f"the confirmation for run {run_id} is unreadable ({err})"
        if doc.get("run_id") != run_id:
            return False, f"the confirmation file for run {run_id} names run {doc.get('run_id')}"
        if bound and bound != rebalance_id:
            return False, f"the confirmation was typed for rebalance {bound}, not {rebalance_id}"
        if now > expires:
            return False, f"the confirmation for run {run_id} expired at {doc['expires_at']}"
        return True, ""
