"""Hypothesis strategies that generate instances of a JSON schema (the subset values.schema.json uses).

Supported: type (one or a list), enum, const, properties/required/additionalProperties, propertyNames,
min/maxProperties, items/minItems/maxItems/uniqueItems, anyOf/oneOf, pattern, min/maxLength,
minimum/maximum, and local `$ref`s (`inline_refs` replaces them by what they point at first). Every
generated value is checked against the full schema with jsonschema, so the strategy never yields an
instance the schema rejects.
"""

from __future__ import annotations

import string
from typing import Any

import jsonschema
from hypothesis import strategies as st

_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-._/:= ", max_size=20)


def _pointer(root: dict[str, Any], ref: str) -> Any:
    """Return the node of `root` that the local reference `ref` ("#/$defs/name/...") points at."""
    assert ref.startswith("#/"), f"not a local reference: {ref}"
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def inline_refs(schema: dict[str, Any], root: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return `schema` with every `$ref` (into `root`, default `schema` itself) replaced by the schema it
    points at, and without `$defs`: each part stands alone (a sub-schema can be validated or drawn from
    without the root).

    The schema is draft-07, where `$ref` replaces its whole object: a `description` beside it is kept
    (it only documents), any other keyword would be ignored by every validator, so it is refused here.
    """

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                ref = node["$ref"]
                beside = set(node) - {"$ref", "description"}
                assert not beside, f"{ref}: draft-07 ignores keywords beside $ref: {sorted(beside)}"
                assert ref not in seen, f"recursive $ref {ref}"
                target = walk(_pointer(root or schema, ref), (*seen, ref))
                return {**target, **({"description": node["description"]} if "description" in node else {})}
            return {k: walk(v, seen) for k, v in node.items() if k not in ("$defs", "$comment")}
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        return node

    out: dict[str, Any] = walk(schema, ())
    return out


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    lo, hi = schema.get("minLength", 0), schema.get("maxLength", 40)
    if "pattern" in schema:
        base = st.from_regex(schema["pattern"], fullmatch=True)
    else:
        base = st.text(alphabet=string.ascii_letters + string.digits + "-._/:= ", min_size=lo, max_size=min(hi, 20))
    return base.filter(lambda s: lo <= len(s) <= hi)


def _number(schema: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if integer:
        return st.integers(min_value=lo if lo is not None else -5,
                           max_value=hi if hi is not None else max(lo or 0, 0) + 1000)
    return st.floats(min_value=lo if lo is not None else -5.0, max_value=hi if hi is not None else 1000.0,
                     allow_nan=False, allow_infinity=False)


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    extra = schema.get("additionalProperties", True)

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if name in required or draw(st.booleans()):
                out[name] = draw(strategy(sub))
        if extra is not False and not props:
            keys = _string(schema["propertyNames"]) if "propertyNames" in schema else _TEXT.filter(bool)
            values = strategy(extra) if isinstance(extra, dict) else _TEXT
            lo, hi = schema.get("minProperties", 0), min(schema.get("maxProperties", 3), 3)
            out.update(draw(st.dictionaries(keys, values, min_size=lo, max_size=max(lo, hi))))
        return out

    return build()


def strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Return a strategy for instances of `schema` (not yet filtered by the whole schema; its `$ref`s
    inlined: `inline_refs`)."""
    assert "$ref" not in schema, "inline the references first (inline_refs)"
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k != key}
            return st.one_of([strategy({**rest, **alt}) for alt in schema[key]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([strategy({**schema, "type": k}) for k in kind])
    if kind == "object" or (kind is None and "properties" in schema):
        return _object(schema)
    if kind == "array":
        items = strategy(schema.get("items", {"type": "string"}))
        lo, hi = schema.get("minItems", 0), min(schema.get("maxItems", 3), 3)
        return st.lists(items, min_size=lo, max_size=max(lo, hi), unique_by=(
            (lambda x: repr(x)) if schema.get("uniqueItems") else None))
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return _number(schema, integer=True)
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return st.one_of(st.none(), st.booleans(), st.integers(0, 100), _TEXT)


def instances(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Return a strategy for instances that the whole `schema` accepts."""
    validator = jsonschema.Draft7Validator(schema)
    return strategy(schema).filter(validator.is_valid)
