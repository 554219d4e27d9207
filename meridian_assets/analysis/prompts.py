"""Prompt templates: Jinja2 files under ``templates/prompts/``, two per task.

``{task}_system.md.j2`` holds the static instructions (no variables, so the provider can cache it) and
``{task}_user.md.j2`` the material of one call. Undefined variables are errors, never blanks. Each
template pair has a version (hash of both files) recorded with every analysis result, so a change of
wording is visible in the data.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import jinja2

from meridian_assets.config import PROJECT_ROOT

PROMPTS_DIR = PROJECT_ROOT / "templates" / "prompts"


@lru_cache(maxsize=4)
def _environment(root: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(root), undefined=jinja2.StrictUndefined, autoescape=False,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
    )


def _paths(task: str, root: Path) -> tuple[Path, Path]:
    return root / f"{task}_system.md.j2", root / f"{task}_user.md.j2"


def system_prompt(task: str, root: Path = PROMPTS_DIR) -> str:
    """The static instructions of ``task``."""
    return _environment(str(root)).get_template(f"{task}_system.md.j2").render().strip()


def render(task: str, root: Path = PROMPTS_DIR, **context: object) -> tuple[str, str]:
    """``(system, user)`` of ``task`` rendered with ``context``."""
    user = _environment(str(root)).get_template(f"{task}_user.md.j2").render(**context).strip()
    return system_prompt(task, root), user


def prompt_version(task: str, root: Path = PROMPTS_DIR) -> str:
    digest = hashlib.sha256()
    for path in _paths(task, root):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
