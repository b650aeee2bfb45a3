"""Shipped profiles load; mistakes in a profile are errors that name the key."""
import pytest

from jscc_core.profiles import ProfileError
from pipelines.ntscc import banana_stages, image_stages
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


def test_paper_fig12_fine_tunes_each_test_snr_from_the_10_db_models():
    """Fig. 12(a) in the paper profile: lambda = 16 NTSCC and R = 1/16 deep JSCC fine-tuned at every test
    SNR from the train_snr_db models, each evaluated, and read by Fig. 12; mini keeps one SNR."""
    paper = {s.name: s for s in all_stages("paper")}
    root = "results/paper/ntscc/images"
    for snr in ("1", "4", "7", "10", "13"):
        for model, base in ((f"ntscc_mse_lam16_snr{snr}", "ntscc_mse_lam16"),
                            (f"deepjscc_mse_c3_snr{snr}", "deepjscc_mse_c3")):
            train, evaluate = paper[f"ntscc_images_train_{model}"], paper[f"ntscc_images_evaluate_{model}"]
            assert f"{root}/{base}/model.pt" in train.deps and f"--init {root}/{base}/model.pt" in train.cmd
            assert f"--fig12-snr {float(snr)!r}" in train.cmd and "ntscc.images.schedules.fine_tune" in train.params
            assert f"{root}/{model}/model.pt" in evaluate.deps
            assert f"{root}/{model}/eval.csv" in paper["ntscc_fig12"].deps
        assert "ntscc.images.fig12_per_snr.eta_train" in paper[f"ntscc_images_train_ntscc_mse_lam16_snr{snr}"].params
    fig12 = paper["ntscc_fig12"].cmd
    assert fig12.index("--eval") < fig12.index(f"{root}/ntscc_mse_lam16/eval.csv") < fig12.index("--per-snr-eval")
    mini = all_stages("mini")
    assert not [s.name for s in mini if "_snr" in s.name]
    assert "--per-snr-eval" not in {s.name: s for s in mini}["ntscc_fig12"].cmd


def test_fig12_fine_tunes_name_a_model_the_profile_trains():
    with pytest.raises(ProfileError, match=r"ntscc\.images\.fig12_per_snr\.lmbda = 32\.0 is not one of"):
        image_stages.stages(load("paper", overrides={"ntscc.images.fig12_per_snr.lmbda": 32.0}), "paper")
    with pytest.raises(ProfileError, match=r"ntscc\.images\.fig12_per_snr\.lamda"):
        load("paper", overrides={"ntscc.images.fig12_per_snr.lamda": 16.0})
    with pytest.raises(ProfileError, match=r"ntscc\.images\.fig12_per_snr"):
        load("mini", overrides={"ntscc.images.fig12_per_snr": True})


def test_a_fig12_fine_tune_without_its_start_or_its_key_is_one_line(tmp_path, capsys):
    from pipelines.ntscc import images

    runs = ((["train-deepjscc", "--c-out", "3"], "--fig12-snr fine-tunes a trained model at that SNR: give its "
             "weights with --init"),
            (["train-ntscc", "--lmbda", "16", "--init", str(tmp_path / "model.pt")],
             "--fig12-snr trains on ntscc.images.fig12_per_snr.eta_train, which profile 'mini' does not set"))
    for argv, message in runs:
        with pytest.raises(SystemExit) as exc:
            images.main([*argv, "--fig12-snr", "4", "--profile", "mini", "--data", str(tmp_path),
                         "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and len(err.splitlines()) == 1 and err.endswith(message)
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["mini", "paper"])
def test_fig17_compares_the_ntscc_of_the_ablations_lambda(name):
    """Fig. 17 reads the NTSCC trained at ntscc.images.ablation.lmbda, the lambda of Comparison-I and -II."""
    profile = load(name)
    lam = profile.get("ntscc.images.ablation.lmbda")
    fig17 = next(st for st in image_stages.stages(profile, name) if st.name == "ntscc_images_fig17")
    ntscc = {d for d in fig17.deps if "/ntscc_mse_lam" in d and d.endswith("/eval.csv")}
    assert ntscc == {d for d in ntscc if f"/ntscc_mse_lam{lam:g}/" in d} and len(ntscc) == 1, ntscc


@pytest.mark.parametrize("key, value, planner", [
    ("ntscc.images.schedules.deepjscc.steps", 4, image_stages),  # mini's 100 warm-up steps stay
    ("ntscc.cifar.schedules.ntc.warmup_steps", 800, image_stages),  # = steps
    ("ntscc.banana.ntc.warmup_steps", 3000, banana_stages),
])
def test_a_schedule_training_cannot_run_is_refused_when_stages_are_planned(key, value, planner):
    """An ``extends`` merge can leave mini's warm-up beside a tiny profile's few steps: planning names the key."""
    profile = load("mini", overrides={key: value})
    block = key.rsplit(".", 1)[0].replace(".", "[.]")
    with pytest.raises(ProfileError, match=rf"{block}: warmup_steps must be in \[0, steps\)"):
        planner.stages(profile, "mini")


@pytest.mark.parametrize("name", ["images_tiny", "separation_tiny", "smoke"])
def test_test_profiles_plan_their_ntscc_stages(name):
    """The test profiles extend mini: every NTSCC stage they plan has a schedule training can run."""
    profile = load(f"tests/profiles/{name}.yaml")
    assert image_stages.stages(profile, name) and banana_stages.stages(profile, name)
