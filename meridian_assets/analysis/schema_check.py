"""Checking an answer against a plain JSON Schema (for callers that describe the answer as a schema dict
rather than a pydantic model).

The subset that structured answers use: ``type`` (one or a list), ``required``, ``properties``, ``items``,
``enum``, ``anyOf``, ``minItems``/``maxItems``, ``minLength``/``maxLength``, ``minimum``/``maximum``. Other
keywords are ignored. `schema_problems` returns readable problems (empty: the value fits).
"""

from __future__ import annotations

from typing import Any

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def schema_problems(value: Any, schema: dict, path: str = "answer") -> list[str]:
    """What does not fit ``schema`` in ``value`` (module docstring)."""
    if not isinstance(schema, dict) or not schema:
        return []
    if "anyOf" in schema:
        options = [schema_problems(value, s, path) for s in schema["anyOf"]]
        return [] if any(not o for o in options) else options[0]
    problems: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_TYPES.get(k, lambda _v: True)(value) for k in kinds):
            return [f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}.{key}: missing")
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                problems += schema_problems(value[key], sub, f"{path}.{key}")
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                problems += schema_problems(item, schema["items"], f"{path}[{i}]")
    elif isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: longer than {schema['maxLength']} characters")
    elif _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value} is above {schema['maximum']}")
    return problems
