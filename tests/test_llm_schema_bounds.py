"""Every bounded number an analyzer asks the model for is enforced: an answer exactly at a bound is used, one
just outside it (a 0 or 11 on a 1-10 scale, a confidence of 1.01, a rank of 0) is invalid and says which
field. The bounds are read from each answer's own JSON schema (the one sent to the provider), so a bound
dropped from a model or from the schema shows up here."""

from __future__ import annotations

from typing import Any

import pytest

from meridian_assets.analysis.analyzers.earnings import EarningsAnswer
from meridian_assets.analysis.analyzers.filing import FilingAnswer
from meridian_assets.analysis.analyzers.insider import InsiderAnswer
from meridian_assets.analysis.analyzers.risk_factor import RiskFactorAnswer
from meridian_assets.analysis.analyzers.sector import SectorAnswer
from meridian_assets.analysis.client import Completion, Usage
from meridian_assets.analysis.structured import answer_schema, parse_answer

MODELS = (EarningsAnswer, FilingAnswer, InsiderAnswer, RiskFactorAnswer, SectorAnswer)
# the bounds each answer must carry (field path -> (minimum, maximum)); None: unbounded on that side
EXPECTED = {
    EarningsAnswer: {f: (1, 10) for f in ("management_confidence", "revenue_guidance", "margin_trajectory",
                                          "competitive_position", "risk_factors", "capital_allocation")},
    FilingAnswer: {f: (1, 10) for f in ("earnings_quality_score", "revenue_quality_score", "balance_sheet_score")},
    InsiderAnswer: {"confidence": (0, 1)},
    RiskFactorAnswer: {"boilerplate_percentage": (0, 100), "risk_severity": (1, 10)},
    SectorAnswer: {"rankings.0.rank": (1, None)},
}


# a confidence above 1 and up to 100 is read as a percentage (70 -> 0.70), so "just above" it is above 100
ABOVE = {(InsiderAnswer, "confidence"): 100.01}


def example(node: dict) -> Any:
    """A valid value for a JSON-schema node (numbers mid-range, the first enum value, one-item lists)."""
    if "anyOf" in node:
        return example(next(n for n in node["anyOf"] if n.get("type") != "null"))
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kind = node.get("type")
    if kind == "object":
        return {k: example(v) for k, v in node.get("properties", {}).items()}
    if kind == "array":
        return [example(node["items"]) for _ in range(max(1, node.get("minItems", 1)))]
    if kind in ("number", "integer"):
        lo, hi = node.get("minimum", 0), node.get("maximum", (node.get("minimum", 0) or 0) + 10)
        mid = (lo + hi) / 2
        return int(mid) if kind == "integer" else mid
    if kind == "boolean":
        return True
    return "text"


def bounds(node: dict, path: str = "") -> dict[str, tuple[Any, Any, str]]:
    """Every numeric node with a minimum or maximum: path -> (minimum, maximum, type)."""
    out = {}
    if "anyOf" in node:
        for n in node["anyOf"]:
            out |= bounds(n, path)
    kind = node.get("type")
    if kind in ("number", "integer") and ("minimum" in node or "maximum" in node):
        out[path] = (node.get("minimum"), node.get("maximum"), kind)
    if kind == "object":
        for k, v in node.get("properties", {}).items():
            out |= bounds(v, f"{path}.{k}" if path else k)
    if kind == "array":
        out |= bounds(node["items"], f"{path}.0")
    return out


def put(doc: dict, path: str, value: Any) -> dict:
    import copy

    doc = copy.deepcopy(doc)
    node: Any = doc
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    node[parts[-1]] = value
    return doc


def parse(model, doc: dict):
    return parse_answer(Completion(text="", structured=doc, usage=Usage(), model="test-model"), model)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_answer_declares_its_bounds(model):
    found = {p: (lo, hi) for p, (lo, hi, _) in bounds(answer_schema(model)).items()}
    assert found == EXPECTED[model]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_value_at_a_bound_is_used_and_one_outside_is_rejected_naming_the_field(model):
    schema = answer_schema(model)
    valid = example(schema)
    status, value, error = parse(model, valid)
    assert (status, error) == ("ok", None) and isinstance(value, model)
    for path, (lo, hi, kind) in bounds(schema).items():
        step = 1 if kind == "integer" else 0.01
        above = ABOVE.get((model, path), None if hi is None else hi + step)
        for edge, outside in ((lo, None if lo is None else lo - step), (hi, above)):
            if edge is None:
                continue
            status, value, error = parse(model, put(valid, path, edge))
            assert status == "ok", (path, edge, error)
            status, value, error = parse(model, put(valid, path, outside))
            assert status == "invalid" and value is None, (path, outside)
            field = path.split(".")[-1]
            assert field in error and ("greater than" in error or "less than" in error), error


def test_an_insider_confidence_given_as_a_percentage_is_read_as_a_fraction():
    valid = example(answer_schema(InsiderAnswer))
    for given, read in ((70, 0.70), (100, 1.0), (1, 1.0), (0.7, 0.7), (0, 0.0)):
        status, value, error = parse(InsiderAnswer, put(valid, "confidence", given))
        assert status == "ok" and value.confidence == pytest.approx(read), (given, error)
