"""Profile values that JSON Schema or YAML alone would let through are refused at load time, naming the key:
NaN, infinities where a range is given, 30.0 for an integer, a key written twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from jscc_core.profiles import ProfileError, load_profile

SCHEMA = """
type: object
required: [seed, train]
properties:
  seed: {type: integer, minimum: 0}
  train:
    type: object
    properties:
      steps: {type: integer, minimum: 1}
      snr_db: {type: number, minimum: -20, maximum: 40}
      clip: {type: number, exclusiveMinimum: 0}
      ceiling: {type: number, maximum: 1}
      scale: {type: number}
      lambdas: {type: array, items: {type: number, exclusiveMinimum: 0}}
"""


@pytest.fixture
def write(tmp_path: Path):
    (tmp_path / "schema.yaml").write_text(SCHEMA)

    def profile(text: str, name: str = "p") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return path

    return profile


def _error(path: Path, overrides: dict | None = None) -> str:
    with pytest.raises(ProfileError) as ei:
        load_profile(path, path.parent / "schema.yaml", overrides)
    return str(ei.value)


@pytest.mark.parametrize("text,key", [
    ("train: {snr_db: .nan}", "train.snr_db"),        # a range that NaN passed
    ("train: {scale: .NaN}", "train.scale"),          # no range at all
    ("train: {lambdas: [1.0, .nan]}", "train.lambdas.1"),
])
def test_nan_is_refused_naming_its_key(write, text, key):
    assert _error(write(f"seed: 1\n{text}\n")) == f"profile 'p': {key} = nan is not a number"


def test_nan_from_an_override_is_refused(write):
    path = write("seed: 1\ntrain: {snr_db: 5}\n")
    assert _error(path, {"train.snr_db": ".nan"}) == "profile 'p': train.snr_db = nan is not a number"


@pytest.mark.parametrize("key,value,bound", [
    ("clip", ".inf", "exclusiveMinimum 0"),     # only a lower bound: +inf passed it before
    ("ceiling", "-.inf", "maximum 1"),          # only an upper bound: -inf passed it before
    ("snr_db", ".inf", "maximum 40"),
    ("snr_db", "-.inf", "minimum -20"),
])
def test_infinity_is_refused_where_a_range_is_given(write, key, value, bound):
    msg = _error(write(f"seed: 1\ntrain: {{{key}: {value}}}\n"))
    assert msg == f"profile 'p': train.{key} = {float(value.replace('.inf', 'inf'))!r} is not a finite number ({bound})"


def test_infinity_without_a_range_is_a_value(write):
    path = write("seed: 1\ntrain: {scale: .inf}\n")
    assert load_profile(path, path.parent / "schema.yaml").get("train.scale") == float("inf")


@pytest.mark.parametrize("text,key,shown", [
    ("seed: 1\ntrain: {steps: 30.0}\n", "train.steps", "30.0"),
    ("seed: 1.0\ntrain: {}\n", "seed", "1.0"),
    ("seed: 1\ntrain: {steps: 3.0e1}\n", "train.steps", "30.0"),
])
def test_a_whole_float_is_not_an_integer(write, text, key, shown):
    msg = _error(write(text))
    assert msg == (f"profile 'p': {key} = {shown} has the wrong type "
                   f"(expected integer: write {int(float(shown))})")


def test_a_whole_float_override_is_not_an_integer_and_a_bool_neither(write):
    path = write("seed: 1\ntrain: {steps: 3}\n")
    assert "train.steps = 30.0 has the wrong type" in _error(path, {"train.steps": "30.0"})
    assert "train.steps = True has the wrong type (expected integer)" in _error(path, {"train.steps": "true"})
    assert load_profile(path, path.parent / "schema.yaml", {"train.steps": "30"}).get("train.steps") == 30


def test_wrong_type_is_named_once_not_again_by_its_range(write):
    msg = _error(write("seed: .inf\ntrain: {}\n"))
    assert msg == "profile 'p': seed = inf has the wrong type (expected integer)"


@pytest.mark.parametrize("text,key,lines", [
    ("seed: 1\ntrain: {}\nseed: 2\n", "seed", (3, 1)),
    ("seed: 1\ntrain:\n  steps: 3\n  clip: 1.0\n  steps: 4\n", "train.steps", (5, 3)),
    ("seed: 1\ntrain: {lambdas: [1.0], snr_db: 2, lambdas: [2.0]}\n", "train.lambdas", (2, 2)),
])
def test_a_key_written_twice_is_refused_with_its_file_and_lines(write, text, key, lines):
    path = write(text)
    assert _error(path) == (f"profile 'p': duplicate key {key!r} in {path}, line {lines[0]} "
                            f"(first at line {lines[1]})")


def test_a_key_written_twice_in_a_base_profile_names_the_base(write):
    base = write("seed: 1\nseed: 1\ntrain: {}\n", "base")
    child = write("extends: base.yaml\ntrain: {steps: 2}\n", "child")
    assert _error(child) == f"profile 'base': duplicate key 'seed' in {base}, line 2 (first at line 1)"


def test_same_key_in_different_mappings_and_aliases_are_fine(write):
    path = write("seed: 1\ntrain: &t {steps: 2, snr_db: 1}\nother: *t\n")
    with pytest.raises(ProfileError, match="unknown key 'other'"):  # read, then refused by the schema only
        load_profile(path, path.parent / "schema.yaml")
    ok = write("seed: 1\ntrain: {steps: 2, lambdas: [1.0]}\n", "ok")
    assert load_profile(ok, ok.parent / "schema.yaml").get("train.steps") == 2


def test_invalid_yaml_is_one_line_with_file_line_and_column(write):
    path = write("seed: 1\n\ttrain: {}\n")
    assert _error(path) == (f"profile 'p': invalid YAML in {path}, line 2, column 1: while scanning for the next "
                            "token; found character '\\t' that cannot start any token")
