"""The InverseJSCC settings tool reads its overrides strictly: a typo names the key."""
from __future__ import annotations

import pytest

from pipelines.gjscc.inverse_sweep import parse_setting

KEYS = {"steps", "latent_radius", "state_radius", "lambdas"}


def test_a_setting_is_a_name_and_a_mapping_of_inverse_keys():
    assert parse_setting("profile={}", KEYS) == ("profile", {})
    assert parse_setting("ilo={steps: [16, 16, 8, 8], state_radius: null}", KEYS) == (
        "ilo", {"steps": [16, 16, 8, 8], "state_radius": None})


@pytest.mark.parametrize("text, named", [
    ("ilo={stepz: [48]}", "no key stepz"),
    ("ilo=[48]", "expected a mapping"),
    ("steps: [48]", "expected NAME=YAML"),
    ("ilo={steps: [48", "not YAML"),
])
def test_a_wrong_setting_is_refused_with_its_problem_named(text, named):
    with pytest.raises(ValueError, match=named):
        parse_setting(text, KEYS)
