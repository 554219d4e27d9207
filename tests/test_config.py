"""meridian.yaml: the committed file is valid, holds the spec's defaults, and bad keys are named."""

from pathlib import Path

import pytest

from meridian_assets.config import PROJECT_ROOT, MeridianConfig, load_config, parse_config
from meridian_assets.errors import ConfigError


def test_committed_file_matches_builtin_defaults():
    committed = load_config(PROJECT_ROOT / "meridian.yaml")
    assert committed == MeridianConfig()


def test_spec_defaults():
    cfg = MeridianConfig()
    assert (cfg.portfolio.num_longs, cfg.portfolio.num_shorts) == (20, 20)
    assert cfg.portfolio.turnover_budget == 0.30
    assert cfg.risk.drawdown_kill == 0.08
    assert cfg.analysis.cost_ceiling_usd == 25.0
    assert cfg.sec.max_requests_per_second == 8
    assert len(cfg.sec.tracked_funds) == 9
    assert cfg.execution.mode == "paper"
    assert abs(sum(cfg.scoring.composite_weights.values()) - 1.0) < 1e-9


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"portfolio\.num_long: unknown key \(did you mean num_longs\?\)"):
        parse_config({"portfolio": {"num_long": 20}})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"risk\.drawdown_kill"):
        parse_config({"risk": {"drawdown_kill": "eight percent"}})


def test_invalid_provider_is_named():
    with pytest.raises(ConfigError, match=r"providers\.prices"):
        parse_config({"providers": {"prices": "yahoo"}})


def test_weights_must_sum_to_one():
    with pytest.raises(ConfigError, match="sum to 1.0"):
        parse_config({"scoring": {"composite_weights": {"momentum": 0.5, "value": 0.2}}})


def test_file_errors(tmp_path: Path):
    bad = tmp_path / "m.yaml"
    bad.write_text("portfolio: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_secrets_are_not_configuration():
    import yaml

    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield str(k).lower()
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)

    raw = yaml.safe_load((PROJECT_ROOT / "meridian.yaml").read_text())
    assert not [k for k in keys(raw) if any(w in k for w in ("api_key", "secret", "password", "access_token"))]
