"""Run profiles (``mini``, ``paper``, ...): YAML files validated against a JSON Schema on load.

A profile may start with ``extends: other.yaml`` (path relative to the profile file); the base
is loaded first and the profile is deep-merged over it (mappings merge key by key, everything
else is replaced). Dotted-key overrides (``{"ntscc.banana.train_steps": "10"}``; strings are
parsed as YAML scalars, as given on a command line) are applied after merging and *before*
validation, so they are checked like everything else.

Validation uses JSON Schema Draft 2020-12. Schemas are strict: every object schema that
declares ``properties`` and says nothing about ``additionalProperties`` /
``unevaluatedProperties`` gets ``additionalProperties: false``, so a misspelt key is always an
error. Errors raise :class:`ProfileError` naming the profile and the dotted key path, e.g.
``profile 'mini': unknown key 'ntscc.banana.trian_steps'``.

YAML is read with a loader that also accepts ``1e-4`` as a float (YAML 1.2 style; PyYAML alone
reads it as a string) and refuses a key given twice in one mapping. Stricter than JSON Schema
itself: ``integer`` means a whole number written without a decimal point (``30.0`` is refused),
``.nan`` is refused anywhere, and ``.inf`` / ``-.inf`` wherever the schema gives a range.
"""

from __future__ import annotations

import atexit
import copy
import difflib
import functools
import hashlib
import json
import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator

import yaml

__all__ = ["ProfileError", "Profile", "load_profile", "load_schema", "parse_override_value",
           "apply_overrides", "deep_merge", "fingerprint", "log_reads", "thaw"]


class ProfileError(ValueError):
    """A profile is missing, malformed or does not match its schema."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or [message]


# --------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader that resolves ``1e-4`` / ``3E5`` as floats (YAML 1.2 behaviour)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _duplicate_keys(node: yaml.Node, path: Path, label: str, prefix: str = "", seen: set[int] | None = None) -> None:
    """Raise on the first mapping key written twice in one mapping, naming its dotted key and lines."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias of a node already checked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            dotted = f"{prefix}.{key.value}" if prefix else key.value
            line = key.start_mark.line + 1
            if key.value in first:
                raise ProfileError(f"{label}: duplicate key {dotted!r} in {path}, line {line} "
                                   f"(first at line {first[key.value]})")
            first[key.value] = line
            _duplicate_keys(value, path, label, dotted, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicate_keys(item, path, label, f"{prefix}.{i}" if prefix else str(i), seen)


def _load_yaml(path: Path, label: str | None = None) -> Any:
    """The YAML document of ``path``; a syntax error or a key given twice is a :class:`ProfileError`
    (``label`` names what the file is, e.g. ``profile 'mini'``)."""
    label = label or str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            loader = _Loader(fh)  # _Loader is a SafeLoader
            try:
                node = loader.get_single_node()
                if node is None:
                    return None
                _duplicate_keys(node, path, label)
                return loader.construct_document(node)
            finally:
                loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = "; ".join(filter(None, (exc.context, exc.problem)))
        raise ProfileError(f"{label}: invalid YAML in {path}{where}: {what}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{label}: invalid YAML in {path}: {exc}") from exc


def parse_override_value(value: Any) -> Any:
    """Parse a command-line string as a YAML scalar (``"10"`` -> 10, ``"1e-4"`` -> 1e-4,
    ``"[1, 2]"`` -> [1, 2], ``"null"`` -> None); non-strings are returned unchanged."""
    if not isinstance(value, str):
        return value
    try:
        return yaml.load(value, Loader=_Loader)
    except yaml.YAMLError:
        return value


# --------------------------------------------------------------------------- merging / overrides


def deep_merge(base: Mapping, over: Mapping) -> dict:
    """Return ``base`` updated by ``over``; nested mappings are merged, other values replaced."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_overrides(data: dict, overrides: Mapping[str, Any] | None, name: str = "?") -> dict:
    """Set dotted keys in a copy of ``data`` (missing parents are created; schema checks them)."""
    out = copy.deepcopy(data)
    for dotted, raw in (overrides or {}).items():
        parts = str(dotted).split(".")
        if not all(parts):
            raise ProfileError(f"profile {name!r}: malformed override key {dotted!r}")
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                where = ".".join(parts[: i + 1])
                raise ProfileError(f"profile {name!r}: override {dotted!r}: {where!r} is not a mapping")
            node = nxt
        node[parts[-1]] = parse_override_value(raw)
    return out


# --------------------------------------------------------------------------- schema


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains",
               "propertyNames", "unevaluatedItems", "unevaluatedProperties")


def _strictify(schema: Any) -> Any:
    """Copy of ``schema`` where object schemas with ``properties`` forbid other keys."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for k in _SCHEMA_MAPS:
        if isinstance(out.get(k), dict):
            out[k] = {n: _strictify(sub) for n, sub in out[k].items()}
    for k in _SCHEMA_LISTS:
        if isinstance(out.get(k), list):
            out[k] = [_strictify(sub) for sub in out[k]]
    for k in _SCHEMA_ONE:
        if isinstance(out.get(k), dict):
            out[k] = _strictify(out[k])
    if ("properties" in out and "additionalProperties" not in out
            and "unevaluatedProperties" not in out):
        out["additionalProperties"] = False
    return out


_SCHEMAS: dict[tuple, dict] = {}  # checked schema files by (path, size, mtime): checking one takes 0.2 s


def load_schema(schema: str | os.PathLike | Mapping) -> dict:
    """Load a JSON Schema given as a YAML/JSON path or a mapping, made strict (see module doc)."""
    if isinstance(schema, Mapping):
        return _checked_schema(dict(schema), schema)
    path = Path(schema).resolve()
    try:
        info = path.stat()
        key = (path, info.st_size, info.st_mtime_ns)
    except OSError:
        key = None
    if key is None or key not in _SCHEMAS:
        checked = _checked_schema(_load_yaml(path, f"schema {str(schema)!r}"), schema)
        if key is None:
            return checked
        _SCHEMAS[key] = checked
    return copy.deepcopy(_SCHEMAS[key])


def _checked_schema(raw: Any, schema: str | os.PathLike | Mapping) -> dict:
    if not isinstance(raw, dict):
        raise ProfileError(f"schema {schema!r} is not a mapping")
    import jsonschema

    strict = _strictify(raw)
    strict.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
    try:
        jsonschema.Draft202012Validator.check_schema(strict)
    except jsonschema.SchemaError as exc:
        raise ProfileError(f"invalid schema {schema!r}: {exc.message}") from exc
    return strict


def _dotted(path) -> str:
    return ".".join(str(p) for p in path)


def _format_error(err, name: str) -> list[str]:
    """Turn one jsonschema error into messages naming the dotted key path."""
    key = _dotted(err.absolute_path)
    val = err.instance
    v = err.validator
    prefix = f"profile {name!r}: "
    if v == "additionalProperties" and isinstance(val, dict):
        allowed = set(err.schema.get("properties", {}))
        pats = [re.compile(p) for p in err.schema.get("patternProperties", {})]
        extra = [k for k in val if k not in allowed and not any(p.search(k) for p in pats)]
        msgs = []
        for k in sorted(extra):
            full = f"{key}.{k}" if key else k
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msgs.append(f"{prefix}unknown key {full!r}{hint}")
        return msgs or [f"{prefix}{key or '<top>'}: {err.message}"]
    if v in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"):
        if isinstance(val, float) and math.isinf(val):
            return [f"{prefix}{key} = {val!r} is not a finite number ({v} {err.validator_value!r})"]
        return [f"{prefix}{key} = {val!r} is out of range ({v} {err.validator_value!r})"]
    if v == "required":
        missing = [r for r in err.validator_value if isinstance(val, dict) and r not in val]
        return [f"{prefix}missing required key {(key + '.' if key else '') + m!r}" for m in missing]
    if v == "type":
        hint = ""
        if isinstance(val, float) and val.is_integer() and "integer" in err.validator_value:
            hint = f": write {int(val)}"  # JSON Schema alone would take 30.0 as an integer
        return [f"{prefix}{key} = {val!r} has the wrong type (expected {err.validator_value}{hint})"]
    if v in ("enum", "const"):
        return [f"{prefix}{key} = {val!r} is not allowed (must be {v} {err.validator_value!r})"]
    return [f"{prefix}{key or '<top>'}: {err.message}"]


def _nan_keys(node: Any, prefix: str = "") -> Iterator[str]:
    """Dotted keys of the NaN values in ``node`` (NaN passes every range check of a schema)."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _nan_keys(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _nan_keys(v, f"{prefix}.{i}" if prefix else str(i))
    elif isinstance(node, float) and math.isnan(node):
        yield prefix or "<top>"


@functools.cache
def _validator_class() -> type:
    """Draft 2020-12 with two project rules: ``integer`` is an int (not ``30.0``, not a bool), and a
    range (minimum, maximum, exclusive*) refuses ``inf`` and ``-inf``."""
    import jsonschema
    from jsonschema import Draft202012Validator

    def finite(keyword: str, other_side: tuple[str, str], unbounded: float):
        check = Draft202012Validator.VALIDATORS[keyword]

        def bounded(validator, bound, instance, schema):
            # inf beyond this bound fails the bound itself; inf towards a side without a bound passes
            # it, so the bound that is present refuses it
            if instance == unbounded and isinstance(instance, float) and not any(k in schema for k in other_side):
                yield jsonschema.ValidationError(f"{instance!r} is not a finite number")
            else:
                yield from check(validator, bound, instance, schema)
        return bounded

    lower, upper = ("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")
    ranges = {k: finite(k, upper, math.inf) for k in lower} | {k: finite(k, lower, -math.inf) for k in upper}
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool))
    return jsonschema.validators.extend(Draft202012Validator, validators=ranges, type_checker=checker)


def _validate(data: dict, schema: dict, name: str) -> None:
    validator = _validator_class()(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    nans = list(_nan_keys(data))
    msgs = [f"profile {name!r}: {key} = nan is not a number" for key in nans]
    # a value of the wrong type (or NaN) is named once, not again by the ranges it cannot meet
    wrong_type = {_dotted(e.absolute_path) for e in errors if e.validator == "type"}
    for err in errors:
        key = _dotted(err.absolute_path)
        if key not in nans and (err.validator == "type" or key not in wrong_type):
            msgs.extend(_format_error(err, name))
    msgs = list(dict.fromkeys(msgs))  # a branch (if / then) reached through several references reports once
    if len(msgs) == 1:
        raise ProfileError(msgs[0], msgs)
    if msgs:
        cut = len(f"profile {name!r}: ")
        body = "\n".join(f"  - {m[cut:]}" for m in msgs)
        raise ProfileError(f"profile {name!r}: {len(msgs)} errors:\n{body}", msgs)


# --------------------------------------------------------------------------- Profile


def _freeze(v: Any) -> Any:
    if isinstance(v, Mapping):
        return MappingProxyType({k: _freeze(x) for k, x in v.items()})
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def thaw(v: Any) -> Any:
    """A profile value (a block, a list, a leaf) as plain dicts, lists and scalars."""
    if isinstance(v, _Traced):  # copying a block for a hash or a log is not a read of its keys
        v = v._data
    if isinstance(v, Mapping):
        return {k: thaw(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return [thaw(x) for x in v]
    return v


# --------------------------------------------------------------------------- read log

_READS: set[str] | None = None  # dotted keys read since log_reads(), or None when not logging


def log_reads(path: str | os.PathLike) -> None:
    """Record every profile value this process reads (leaves and lists, by dotted key) and append
    them, with the command line, as one JSON line to ``path`` when the process exits.  Lets a test
    check that a stage declares every profile key it reads.  Reading a whole block to hash or log
    it (:func:`fingerprint`, :meth:`Profile.to_dict`) is not recorded."""
    global _READS
    if _READS is None:
        _READS = set()
        atexit.register(_append_reads, Path(path))


def _append_reads(path: Path) -> None:
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    line = json.dumps({"module": getattr(main, "name", None), "argv": sys.argv[1:], "keys": sorted(_READS or ())})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def _traced(value: Any, key: str) -> Any:
    """``value`` read at ``key``: a block is wrapped so the keys read inside it are recorded."""
    if _READS is None:
        return value
    if isinstance(value, Mapping):
        return _Traced(value, key)
    _READS.add(key)
    return value


class _Traced(Mapping):
    """A read-only block of a profile that records the keys read from it (see :func:`log_reads`)."""

    def __init__(self, data: Mapping, prefix: str):
        self._data, self._prefix = data, prefix

    def __getitem__(self, key: str) -> Any:
        return _traced(self._data[key], f"{self._prefix}.{key}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # printed as the block itself: str() of a value (hashed by stages) must not change when logging
    def __repr__(self) -> str:
        return repr(self._data)

    def __str__(self) -> str:
        return str(self._data)


def canonical_json(data: Any) -> str:
    """Canonical JSON (sorted keys, no whitespace, repr-exact floats) used for hashing."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class Profile(Mapping):
    """Read-only validated profile: ``profile["ntscc"]``, ``profile.get("ntscc.banana.snr_db")``.

    Attributes: ``name``, ``path`` (source file), ``sources`` (the ``extends`` chain, base
    first), ``overrides`` and ``sha256`` of the canonical JSON of the final data.
    """

    def __init__(self, name: str, data: dict, path: Path | None = None,
                 sources: tuple[Path, ...] = (), overrides: Mapping[str, Any] | None = None):
        self._data = _freeze(data)
        self.name = name
        self.path = path
        self.sources = sources
        self.overrides = MappingProxyType(dict(overrides or {}))
        self.sha256 = hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()

    def __getitem__(self, key: str) -> Any:
        return _traced(self._data[key], key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, default: Any = None) -> Any:
        """Dotted lookup: ``get("ntscc.banana.train_steps")``; ``default`` if any part is absent."""
        node: Any = self._data
        for part in str(key).split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return _traced(node, str(key))

    def to_dict(self) -> dict:
        """A mutable deep copy as plain dicts/lists."""
        return thaw(self._data)

    def flat(self) -> dict[str, Any]:
        """``{dotted.key: leaf value}`` for logging as parameters."""
        out: dict[str, Any] = {}

        def walk(node: Any, prefix: str) -> None:
            if isinstance(node, Mapping) and node:
                for k, v in node.items():
                    walk(v, f"{prefix}.{k}" if prefix else str(k))
            else:
                out[prefix] = thaw(node)

        walk(self._data, "")
        return out

    def __repr__(self) -> str:
        return f"Profile(name={self.name!r}, path={str(self.path)!r}, sha256={self.sha256[:12]})"


def fingerprint(profile: Profile, section: str, kind: str, **extra: Any) -> str:
    """What a stage's result depends on in ``profile``, as 16 hex digits of a SHA-256.

    ``section``: dotted key of the profile block the stage reads (e.g. ``"ntscc.banana"``);
    ``kind``: what the stage makes (a model kind such as ``"ntc"``, or ``"evaluate"``, ``"fig08"``);
    ``extra``: the stage's own parameters (JSON values; anything else is hashed as ``str``).
    The hash covers ``{"kind", "cfg": the block, "seed": the profile seed, **extra}``, so editing
    another block leaves it unchanged. Stages put it in their run keys (``<stage>@<fingerprint>``)
    and checkpoints, which are resumed only under the same fingerprint.
    """
    block = thaw(profile.get(section))  # hashed whole: not a read of its keys
    if not isinstance(block, Mapping):
        raise ProfileError(f"profile {profile.name!r} has no block {section!r}")
    # json.dumps with its default separators: the digests of existing run keys and checkpoints
    blob = json.dumps({"kind": kind, "cfg": block, "seed": profile["seed"], **extra},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _resolve_path(path_or_name: str | os.PathLike, search: list[Path]) -> Path:
    p = Path(path_or_name)
    if p.is_file():
        return p
    if p.suffix not in (".yaml", ".yml") and len(p.parts) == 1:
        for d in search:
            for suf in (".yaml", ".yml"):
                cand = d / f"{p.name}{suf}"
                if cand.is_file():
                    return cand
    raise ProfileError(f"profile {str(path_or_name)!r} not found (searched {', '.join(map(str, search)) or 'nothing'})")


def _load_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, tuple[Path, ...]]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise ProfileError(f"profile {path.stem!r}: circular extends ({chain})")
    data = _load_yaml(path, f"profile {path.stem!r}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path.stem!r}: top level must be a mapping")
    base_ref = data.pop("extends", None)
    if base_ref is None:
        return data, (path,)
    base_path = (path.parent / str(base_ref))
    if not base_path.is_file():
        raise ProfileError(f"profile {path.stem!r}: extends {base_ref!r}, which does not exist ({base_path})")
    base, chain = _load_chain(base_path, (*seen, path))
    return deep_merge(base, data), (*chain, path)


def load_profile(
    path_or_name: str | os.PathLike,
    schema: str | os.PathLike | Mapping,
    overrides: Mapping[str, Any] | None = None,
    *,
    search: list[str | os.PathLike] | None = None,
) -> Profile:
    """Load a profile (file path, or a bare name looked up as ``<name>.yaml``), resolve
    ``extends``, apply dotted ``overrides`` and validate against ``schema``.

    Bare names are searched in ``search`` (default: the schema's folder, when the schema is a
    path, and the current directory).
    """
    dirs = [Path(d) for d in (search or [])]
    if not search:
        if not isinstance(schema, Mapping):
            dirs.append(Path(schema).parent)
        dirs.append(Path.cwd())
    path = _resolve_path(path_or_name, dirs)
    name = path.stem
    data, chain = _load_chain(path)
    data = apply_overrides(data, overrides, name)
    _validate(data, load_schema(schema), name)
    return Profile(name, data, path=path, sources=chain, overrides=overrides)
