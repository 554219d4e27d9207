"""Each domain's configuration block (``meridian_assets/<domain>/settings.py``) is base layer and self-explaining.

A settings module imports only the standard library, pydantic and the base modules (`config_base`, `calendar`),
so loading the configuration never pulls in a domain's logic, Dagster or an SDK. Every field of every block
says what it is: a comment on its line, or a comment right above it (one comment may cover a run of fields,
e.g. ``vix_high`` and ``vix_low``), or a class whose docstring is the explanation of a one-line record.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = sorted((ROOT / "meridian_assets").glob("*/settings.py"))
ALLOWED_PROJECT = {"meridian_assets.config_base", "meridian_assets.calendar"}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_block_of_meridian_yaml_lives_in_a_settings_module():
    from meridian_assets.config import MeridianConfig
    from meridian_assets.config_base import Block

    homes = {name: type(getattr(MeridianConfig(), name)).__module__ for name, field in MeridianConfig.model_fields.items()
             if isinstance(field.default, Block)}
    shared = {"paths", "history"}  # every domain's: they stay with the root model
    assert {k for k, m in homes.items() if m == "meridian_assets.config"} == shared
    assert all(m.endswith(".settings") for k, m in homes.items() if k not in shared), homes


@pytest.mark.parametrize("path", SETTINGS, ids=_rel)
def test_settings_module_imports_only_pydantic_and_base(path):
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in stdlib or top == "__future__" or top == "pydantic" or name in ALLOWED_PROJECT:
                continue
            bad.append(f"line {node.lineno}: {name}")
    assert not bad, f"{_rel(path)} imports beyond pydantic and base: {bad}"


def _comment_lines(source: str) -> tuple[set[int], set[int]]:
    """(lines holding only a comment, lines ending in a trailing comment)."""
    alone, trailing = set(), set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            (alone if tok.line.strip().startswith("#") else trailing).add(tok.start[0])
    return alone, trailing


def undocumented_fields(source: str) -> list[str]:
    """``Class.field`` for each annotated field with no comment on its line or above its run of fields."""
    alone, trailing = _comment_lines(source)
    missing = []
    for cls in (n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)):
        fields = [s for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        documented_record = ast.get_docstring(cls) is not None and len(fields) <= 1
        field_lines = {ln for s in fields for ln in range(s.lineno, s.end_lineno + 1)}
        for s in fields:
            if documented_record or any(ln in trailing for ln in range(s.lineno, s.end_lineno + 1)):
                continue
            line = s.lineno - 1  # walk up over the fields of the same run to the comment above them
            while line in field_lines:
                line -= 1
            if line not in alone:
                missing.append(f"{cls.name}.{s.target.id} (line {s.lineno})")
    return missing


@pytest.mark.parametrize("path", SETTINGS, ids=_rel)
def test_every_field_says_what_it_is(path):
    assert undocumented_fields(path.read_text()) == [], _rel(path)


def test_the_field_rule_catches_a_bare_field():
    src = ("class A(Block):\n"
           "    # both in days\n    a: int = 1\n    b: int = 2\n\n"
           "    c: int = 3\n"
           "    d: int = 4  # sessions\n")
    assert undocumented_fields(src) == ["A.c (line 6)"]
