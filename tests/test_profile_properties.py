"""Property: a typo of any real key, at any depth of the mini profile, and a value of a wrong type for any
key, are refused when the profile loads, with a ProfileError that names the dotted key."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jscc_core.profiles import ProfileError, load_schema
from pipelines.profile import SCHEMA, load

BASE = load("mini").to_dict()
STRICT = load_schema(SCHEMA)  # every object with properties forbids other keys
JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
              dict: "object"}
# a value of each JSON type; 30.0 is a number that JSON Schema alone would take as an integer
CANDIDATES = (None, True, 7, 2.5, 30.0, "seven", [1, 2], {"x": 1})


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        node = STRICT
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _allowed_types(schema: dict) -> set[str] | None:
    """The JSON types a value may have under ``schema`` (None: the schema does not say)."""
    if "anyOf" in schema:
        branches = [_allowed_types(_resolve(b)) for b in schema["anyOf"]]
        return None if None in branches else set().union(*branches)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return set(types) | ({"integer"} if "number" in types else set())
    if "enum" in schema:
        return {JSON_TYPES[type(v)] for v in schema["enum"]}
    return None


def _walk(value, schema: dict, path: tuple, strict: list, typed: list) -> None:
    """Collect the strict objects (path, their keys) and the typed values (path, allowed types) below ``path``."""
    schema = _resolve(schema)
    if path:
        allowed = _allowed_types(schema)
        if allowed is not None:
            typed.append((path, allowed))
    if "anyOf" in schema:
        return
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if props and schema.get("additionalProperties") is False and "patternProperties" not in schema:
            strict.append((path, sorted(props)))
        for key, child in value.items():
            sub = props.get(key, schema.get("additionalProperties"))
            if isinstance(sub, dict):
                _walk(child, sub, (*path, key), strict, typed)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, child in enumerate(value):
            _walk(child, schema["items"], (*path, i), strict, typed)


def _get(data, path: tuple):
    for part in path:
        data = data[part]
    return data


STRICT_OBJECTS: list = []  # (path, the keys its schema allows)
TYPED: list = []  # (path, the JSON types its value may have)
_walk(BASE, STRICT, (), STRICT_OBJECTS, TYPED)
REAL_KEYS = [(path, key, keys) for path, keys in STRICT_OBJECTS for key in keys if key in _get(BASE, path)]


def _dotted(path: tuple) -> str:
    return ".".join(map(str, path))


def _load_error(data: dict, change: str) -> str:
    """The ProfileError of loading ``data`` from a file; ``change``: what was done to the mini profile."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        try:
            load(str(path))
        except ProfileError as exc:
            return str(exc)
    raise AssertionError(f"the mini profile with {change} loaded without an error")


def _names(message: str, dotted: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(dotted)}(?![\w.])", message) is not None


@st.composite
def typos(draw, word: str) -> str:
    """``word`` with one slip of the keyboard: a letter dropped, added, replaced, two swapped, or a capital."""
    i = draw(st.integers(0, len(word) - 1))
    letter = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_0123456789"))
    kind = draw(st.sampled_from(["drop", "add", "replace", "swap", "upper"]))
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if kind == "add":
        return word[:i] + letter + word[i:]
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "upper" and word[i].isalpha():
        return word[:i] + word[i].upper() + word[i + 1:]
    return word[:i] + letter + word[i + 1:]


def test_the_walk_reaches_deep_keys():
    """The property below ranges over keys at every depth, not just the top."""
    depths = {len(path) for path, _, _ in REAL_KEYS}
    assert {0, 1, 2, 3, 4} <= depths and len(REAL_KEYS) > 200
    assert {len(path) for path, _ in TYPED} >= {1, 2, 3, 4, 5}


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_typo_of_any_real_key_is_refused_naming_the_dotted_key(data):
    path, key, keys = data.draw(st.sampled_from(REAL_KEYS), label="key")
    typo = data.draw(typos(key).filter(lambda t: t and t not in keys), label="typo")
    profile = yaml.safe_load(yaml.safe_dump(BASE))  # a deep copy
    parent = _get(profile, path)
    parent[typo] = parent.pop(key)
    message = _load_error(profile, f"{_dotted((*path, key))} written as {typo!r}")
    assert f"unknown key {_dotted((*path, typo))!r}" in message, message


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_value_of_a_wrong_type_is_refused_naming_the_dotted_key(data):
    path, allowed = data.draw(st.sampled_from(TYPED), label="key")
    wrong = [v for v in CANDIDATES if JSON_TYPES[type(v)] not in allowed]
    value = data.draw(st.sampled_from(wrong), label="value")
    profile = yaml.safe_load(yaml.safe_dump(BASE))
    *parents, last = path
    _get(profile, tuple(parents))[last] = value
    message = _load_error(profile, f"{_dotted(path)} = {value!r}")
    assert _names(message, _dotted(path)), message
