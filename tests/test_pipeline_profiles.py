"""Shipped profiles load; mistakes in a profile are errors that name the key."""
import pytest

from jscc_core.profiles import ProfileError
from pipelines.ntscc import banana_stages
from pipelines.profile import load
from pipelines.stages import all_stages


@pytest.mark.parametrize("name", ["mini", "paper"])
def test_shipped_profiles_are_valid(name):
    profile = load(name)
    assert profile.name == name
    assert profile.get("ntscc.banana.snr_db") == 5.0


def test_paper_profile_carries_the_papers_banana_settings():
    cfg = load("paper").get("ntscc.banana")
    assert cfg["train_samples"] == 10**7 and cfg["test_samples"] == 10**6
    assert [m["lmbda"] for m in cfg["ntscc_models"]] == [1 / 32, 1 / 256, 1 / 1024]
    assert len(cfg["rate_values"]) == 16


def test_unknown_key_is_named():
    with pytest.raises(ProfileError, match=r"ntscc\.banana\.trian_samples"):
        load("mini", overrides={"ntscc.banana.trian_samples": 10})


def test_out_of_range_snr_is_named():
    with pytest.raises(ProfileError, match=r"ntscc\.banana\.snr_db"):
        load("mini", overrides={"ntscc.banana.snr_db": 120})


def test_map_setting_must_be_a_trained_lambda():
    profile = load("mini", overrides={"ntscc.banana.maps.lmbda": 0.5})
    with pytest.raises(ProfileError, match=r"ntscc\.banana\.maps\.lmbda"):
        banana_stages.stages(profile, "mini")


@pytest.mark.parametrize("name", ["mini", "paper"])
def test_every_stage_declares_resources(name):
    for st in all_stages(name):
        assert st.threads >= 1 and st.mem_mb > 0 and st.runtime_min > 0 and st.gpus >= 0, st.name


@pytest.mark.parametrize("name", ["mini", "paper"])
def test_every_stage_declares_profile_keys_that_exist(name):
    """DVC refuses a parameter missing from the profile file; every stage but data and copies reads some."""
    profile = load(name)
    for st in all_stages(name):
        assert all(profile.get(key) is not None for key in st.params), (st.name, st.params)
        if st.pipeline in ("ntscc", "separation") and not st.name.startswith("alias_"):
            assert "seed" in st.params, st.name


def test_timing_stage_runs_alone_without_a_huge_thread_request():
    timing = {st.name: st for st in all_stages("paper")}["ntscc_images_time_models"]
    assert timing.alone and timing.threads == 1
