"""The NYSE session list is built once and read back by later processes, with the same sessions."""

import json
import subprocess
import sys

PROBE = """
import datetime as dt, json, sys
from meridian_assets import calendar as c
days = c.sessions(dt.date(2019, 1, 1), dt.date(2025, 12, 31))
print(json.dumps({"n": len(days), "first": str(days[0]), "last": str(days[-1]),
                  "good_friday_2024": c.is_session(dt.date(2024, 3, 29)),
                  "built": "exchange_calendars" in sys.modules}))
"""


def _probe(cache_home) -> dict:
    env = {"XDG_CACHE_HOME": str(cache_home), "PATH": "/usr/bin:/bin", "HOME": str(cache_home)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    return json.loads(out.stdout)


def test_a_second_process_reads_the_sessions_without_building_the_calendar(tmp_path):
    first, second = _probe(tmp_path), _probe(tmp_path)
    assert first["built"] and not second["built"]
    assert {k: v for k, v in first.items() if k != "built"} == {k: v for k, v in second.items() if k != "built"}
    assert first["n"] == 1760 and first["first"] == "2019-01-02" and not first["good_friday_2024"]
    assert list((tmp_path / "meridian").glob("xnys-sessions-*.npy"))
