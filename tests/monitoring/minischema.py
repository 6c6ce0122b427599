"""A small JSON Schema validator for the subset src/ringfast/openapi.json uses (no dependency).

Supported: local ``$ref`` ("#/..."), ``type`` (a name or a list; ``integer`` excludes bool
and floats), ``enum``, ``const``, ``required``, ``properties``, ``patternProperties``,
``additionalProperties`` (bool or schema), ``items``, ``uniqueItems``, ``minimum``,
``maximum``, ``minLength``. Annotations (description, format, ...) are ignored. Any other
keyword raises `UnsupportedKeyword`, so a schema can never be silently half-checked.

`errors(instance, schema, root)` -> list of "path: message" strings (empty when valid).
"""

from __future__ import annotations

import re
from typing import Any

ANNOTATIONS = {"description", "format", "title", "summary", "examples", "default", "deprecated", "readOnly"}
CHECKED = {
    "$ref", "type", "enum", "const", "required", "properties", "patternProperties",
    "additionalProperties", "items", "uniqueItems", "minimum", "maximum", "minLength",
}

TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


class UnsupportedKeyword(Exception):
    pass


def resolve(root: dict, ref: str) -> Any:
    if not ref.startswith("#/"):
        raise UnsupportedKeyword(f"only local $ref is supported, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0 but True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def errors(instance: Any, schema: dict, root: dict, path: str = "$") -> list[str]:
    unknown = set(schema) - CHECKED - ANNOTATIONS
    if unknown:
        raise UnsupportedKeyword(f"{path}: schema keyword(s) {sorted(unknown)} not supported")
    out: list[str] = []
    if "$ref" in schema:
        out += errors(instance, resolve(root, schema["$ref"]), root, path)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[name](instance) for name in names):
            return out + [f"{path}: {instance!r} is not of type {' or '.join(names)}"]
    if "enum" in schema and not any(_same(instance, v) for v in schema["enum"]):
        out.append(f"{path}: {instance!r} is not one of {schema['enum']}")
    if "const" in schema and not _same(instance, schema["const"]):
        out.append(f"{path}: {instance!r} is not {schema['const']!r}")
    if TYPES["number"](instance):
        if "minimum" in schema and instance < schema["minimum"]:
            out.append(f"{path}: {instance} < minimum {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            out.append(f"{path}: {instance} > maximum {schema['maximum']}")
    if isinstance(instance, str) and "minLength" in schema and len(instance) < schema["minLength"]:
        out.append(f"{path}: {instance!r} is shorter than {schema['minLength']}")
    if isinstance(instance, list):
        if "items" in schema:
            for i, item in enumerate(instance):
                out += errors(item, schema["items"], root, f"{path}[{i}]")
        if schema.get("uniqueItems"):
            for i, item in enumerate(instance):
                if any(_same(item, other) for other in instance[:i]):
                    out.append(f"{path}: item {i} ({item!r}) is repeated")
    if isinstance(instance, dict):
        for key in schema.get("required", ()):
            if key not in instance:
                out.append(f"{path}: required property {key!r} is missing")
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key, value in instance.items():
            matched = False
            if key in props:
                matched = True
                out += errors(value, props[key], root, f"{path}.{key}")
            for pattern, sub in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    out += errors(value, sub, root, f"{path}.{key}")
            if not matched and "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    out.append(f"{path}: unexpected property {key!r}")
                elif isinstance(extra, dict):
                    out += errors(value, extra, root, f"{path}.{key}")
    return out
