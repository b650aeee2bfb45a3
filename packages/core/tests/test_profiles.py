"""Profiles: strict validation with dotted key paths, validated overrides, extends."""

from __future__ import annotations

from pathlib import Path

import pytest

from jscc_core.profiles import Profile, ProfileError, fingerprint, load_profile

SCHEMA = """
$schema: https://json-schema.org/draft/2020-12/schema
type: object
required: [seed, ntscc]
properties:
  seed: {type: integer, minimum: 0}
  ntscc:
    type: object
    properties:
      banana:
        type: object
        required: [train_steps, snr_db]
        properties:
          train_steps: {type: integer, minimum: 1}
          snr_db: {type: number, minimum: -20, maximum: 80}
          lr: {type: number, exclusiveMinimum: 0}
          lambdas: {type: array, items: {type: number}}
"""

MINI = """
seed: 1
ntscc:
  banana:
    train_steps: 200
    snr_db: 10
    lr: 1e-4
    lambdas: [64, 16]
"""


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "mini.yaml").write_text(MINI)
    return tmp_path


def test_valid_profile_is_read_only_with_dotted_access(pdir):
    p = load_profile(pdir / "mini.yaml", pdir / "schema.yaml")
    assert isinstance(p, Profile) and p.name == "mini" and p.path == pdir / "mini.yaml"
    assert p.get("ntscc.banana.train_steps") == 200
    assert p.get("ntscc.banana.lr") == pytest.approx(1e-4)  # YAML 1.2 float, not a string
    assert p.get("ntscc.nothing.here", "dflt") == "dflt"
    assert p.flat()["ntscc.banana.lambdas"] == [64, 16]
    with pytest.raises(TypeError):
        p["ntscc"]["banana"]["snr_db"] = 3  # type: ignore[index]
    assert len(p.sha256) == 64
    # By name, and the hash does not depend on key order in the file.
    (pdir / "reordered.yaml").write_text(
        "ntscc:\n  banana: {lambdas: [64, 16], lr: 0.0001, snr_db: 10, train_steps: 200}\nseed: 1\n")
    assert load_profile("reordered", pdir / "schema.yaml").sha256 == p.sha256


def test_unknown_key_names_dotted_path(pdir):
    (pdir / "mini.yaml").write_text(MINI.replace("train_steps: 200", "train_steps: 200\n    trian_steps: 3"))
    with pytest.raises(ProfileError) as ei:
        load_profile(pdir / "mini.yaml", pdir / "schema.yaml")
    assert "profile 'mini': unknown key 'ntscc.banana.trian_steps'" in str(ei.value)
    assert "did you mean 'train_steps'" in str(ei.value)


def test_out_of_range_names_key_and_bound(pdir):
    (pdir / "paper.yaml").write_text(MINI.replace("snr_db: 10", "snr_db: 120"))
    with pytest.raises(ProfileError) as ei:
        load_profile(pdir / "paper.yaml", pdir / "schema.yaml")
    assert "profile 'paper': ntscc.banana.snr_db = 120 is out of range (maximum 80)" in str(ei.value)


def test_missing_and_wrong_type(pdir):
    (pdir / "bad.yaml").write_text("seed: -1\nntscc: {banana: {snr_db: ten}}\n")
    with pytest.raises(ProfileError) as ei:
        load_profile(pdir / "bad.yaml", pdir / "schema.yaml")
    msg = str(ei.value)
    assert "missing required key 'ntscc.banana.train_steps'" in msg
    assert "ntscc.banana.snr_db = 'ten' has the wrong type" in msg
    assert "seed = -1 is out of range (minimum 0)" in msg


def test_overrides_are_parsed_and_validated(pdir):
    schema = pdir / "schema.yaml"
    p = load_profile(pdir / "mini.yaml", schema, {"ntscc.banana.train_steps": "10",
                                                   "ntscc.banana.lr": "3e-4"})
    assert p.get("ntscc.banana.train_steps") == 10 and p.get("ntscc.banana.lr") == 3e-4
    assert dict(p.overrides) == {"ntscc.banana.train_steps": "10", "ntscc.banana.lr": "3e-4"}
    with pytest.raises(ProfileError, match=r"ntscc\.banana\.snr_db = 120 is out of range"):
        load_profile(pdir / "mini.yaml", schema, {"ntscc.banana.snr_db": "120"})
    with pytest.raises(ProfileError, match=r"unknown key 'ntscc\.banana\.steps'"):
        load_profile(pdir / "mini.yaml", schema, {"ntscc.banana.steps": 5})
    with pytest.raises(ProfileError, match="wrong type"):
        load_profile(pdir / "mini.yaml", schema, {"ntscc.banana.train_steps": "many"})


def test_extends_deep_merges_base(pdir):
    (pdir / "tiny.yaml").write_text("extends: mini.yaml\nntscc:\n  banana:\n    train_steps: 5\n")
    base = load_profile(pdir / "mini.yaml", pdir / "schema.yaml")
    tiny = load_profile(pdir / "tiny.yaml", pdir / "schema.yaml")
    assert tiny.name == "tiny" and "extends" not in tiny
    assert tiny.get("ntscc.banana.train_steps") == 5
    assert tiny.get("ntscc.banana.snr_db") == 10 and tiny.get("seed") == 1
    assert [s.name for s in tiny.sources] == ["mini.yaml", "tiny.yaml"]
    assert tiny.sha256 != base.sha256
    # A bad key in the child is still caught, and cycles are reported.
    (pdir / "tiny2.yaml").write_text("extends: mini.yaml\nntscc: {banana: {snr_db: 81}}\n")
    with pytest.raises(ProfileError, match="profile 'tiny2': ntscc.banana.snr_db = 81"):
        load_profile(pdir / "tiny2.yaml", pdir / "schema.yaml")
    (pdir / "a.yaml").write_text("extends: b.yaml\n")
    (pdir / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ProfileError, match="circular extends"):
        load_profile(pdir / "a.yaml", pdir / "schema.yaml")


def test_fingerprint_follows_the_block_and_seed_only(pdir):
    p = load_profile(pdir / "mini.yaml", pdir / "schema.yaml")
    fp = fingerprint(p, "ntscc.banana", "ntc", tag="lam64")
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fingerprint(p, "ntscc.banana", "ntc", tag="lam64") == fp
    assert fingerprint(p, "ntscc.banana", "ntscc", tag="lam64") != fp
    assert fingerprint(p, "ntscc.banana", "ntc", tag="lam16") != fp
    assert fingerprint(load_profile(pdir / "mini.yaml", pdir / "schema.yaml", {"seed": 2}),
                       "ntscc.banana", "ntc", tag="lam64") != fp
    assert fingerprint(load_profile(pdir / "mini.yaml", pdir / "schema.yaml", {"ntscc.banana.snr_db": 5}),
                       "ntscc.banana", "ntc", tag="lam64") != fp
    with pytest.raises(ProfileError, match="ntscc.images"):
        fingerprint(p, "ntscc.images", "ntc")


def test_logging_reads_changes_no_value_a_stage_hashes(tmp_path, monkeypatch):
    """A stage hashes str() of profile blocks into its run keys and checkpoints: the read log must not
    change them, and it records the leaves read, not the blocks hashed."""
    import json

    import jscc_core.profiles as profiles

    schema = {"type": "object", "properties": {"seed": {"type": "integer"},
                                               "block": {"type": "object", "properties": {
                                                   "a": {"type": "integer"}, "b": {"type": "object"}}}}}
    path = tmp_path / "p.yaml"
    path.write_text("seed: 1\nblock: {a: 2, b: {c: 3}}\n")
    plain = profiles.load_profile(path, schema)
    before = json.dumps(plain.get("block"), default=str), profiles.fingerprint(plain, "block", "x")
    monkeypatch.setattr(profiles, "_READS", set())
    traced = profiles.load_profile(path, schema)
    block = traced.get("block")
    assert (json.dumps(block, default=str), profiles.fingerprint(traced, "block", "x")) == before
    assert block["b"]["c"] == 3 and traced["seed"] == 1
    assert profiles._READS == {"block.b.c", "seed"}
