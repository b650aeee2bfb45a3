"""A profile's folders (results/, checkpoints/, logs/<name>) belong to one profile file: a user profile
never takes a built-in's name, two files of one name never share them, and --config takes only profile=."""
import json
from pathlib import Path

import pytest

from jscc_core.profiles import ProfileError
from pipelines.profile import MARKER, REPO_ROOT, check_identity, config_profile, load, profile_source

MINI = REPO_ROOT / "pipelines" / "profiles" / "mini.yaml"
SMOKE = REPO_ROOT / "tests" / "profiles" / "smoke.yaml"


def _user_profile(folder: Path, name: str, text: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"extends: {MINI}\n{text}")
    return path


def test_a_user_profile_with_a_built_in_name_is_refused_naming_both_files(tmp_path):
    mine = _user_profile(tmp_path, "smoke", "seed: 7\n")
    with pytest.raises(ProfileError) as ei:
        load(str(mine))
    assert str(ei.value) == (f"profile {mine} has the name of the built-in profile tests/profiles/smoke.yaml, whose "
                             "results/smoke, checkpoints/smoke and logs/smoke it would overwrite; rename it "
                             "(e.g. to my_smoke.yaml)")
    with pytest.raises(ProfileError, match="built-in profile pipelines/profiles/mini.yaml"):
        load(str(_user_profile(tmp_path / "other", "mini", "threads: 2\n")))
    renamed = mine.rename(tmp_path / "my_smoke.yaml")
    assert load(str(renamed)).get("seed") == 7


def test_a_copy_of_a_built_in_profile_is_that_profile(tmp_path):
    """Tests run the tiny profiles from copies of the project: the same profile under its own name."""
    copy = tmp_path / "smoke.yaml"
    copy.write_text(SMOKE.read_text().replace("../../pipelines/profiles/mini.yaml", str(MINI)))
    profile = load(str(copy))
    assert profile.sha256 == load(str(SMOKE)).sha256
    assert profile_source(profile) == "tests/profiles/smoke.yaml" == profile_source(load(str(SMOKE)))
    assert profile_source(load("mini")) == "pipelines/profiles/mini.yaml"


def test_two_profile_files_of_one_name_never_share_folders(tmp_path):
    root = tmp_path / "project"
    first = load(str(_user_profile(tmp_path / "a", "exp")))
    second = load(str(_user_profile(tmp_path / "b", "exp", "seed: 3\n")))
    assert check_identity(first, root, claim=True) == str(first.path.resolve())
    for kind in ("results", "checkpoints", "logs"):
        marker = json.loads((root / kind / "exp" / MARKER).read_text())
        assert marker == {"profile": "exp", "source": str(first.path.resolve()), "sha256": first.sha256}
    with pytest.raises(ProfileError) as ei:
        check_identity(second, root)
    assert str(ei.value) == (
        f"profile {second.path.resolve()}: results/exp belongs to another profile named 'exp', "
        f"{first.path.resolve()} (results/exp/{MARKER}); rename exp.yaml, or, if it replaces "
        f"{first.path.resolve()}, delete results/exp/{MARKER}, checkpoints/exp/{MARKER}, logs/exp/{MARKER}")
    assert check_identity(first, root) == str(first.path.resolve())  # its owner, edited or not, is welcome
    assert json.loads((root / "logs" / "exp" / MARKER).read_text())["source"] == str(first.path.resolve())


def test_a_profile_inside_the_project_is_recorded_relative_to_it_so_a_copied_project_keeps_its_owners(tmp_path):
    import shutil

    root = tmp_path / "project"
    profile = load(str(_user_profile(root / "my", "exp")))
    assert check_identity(profile, root, claim=True) == "my/exp.yaml"
    copy = shutil.copytree(root, tmp_path / "copy")
    assert check_identity(load(str(copy / "my" / "exp.yaml")), copy) == "my/exp.yaml"
    with pytest.raises(ProfileError, match="results/exp belongs to another profile named 'exp', my/exp.yaml"):
        check_identity(load(str(_user_profile(tmp_path / "elsewhere", "exp"))), copy)


def test_every_load_checks_the_working_folder(tmp_path, monkeypatch):
    first, second = _user_profile(tmp_path / "a", "exp"), _user_profile(tmp_path / "b", "exp")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints" / "exp").mkdir(parents=True)  # written by a stage of the first one
    load(str(first))  # records its owner in the folder that exists, creates none
    assert (tmp_path / "checkpoints" / "exp" / MARKER).is_file() and not (tmp_path / "results").exists()
    with pytest.raises(ProfileError, match=r"checkpoints/exp belongs to another profile named 'exp'"):
        load(str(second))


def test_an_unreadable_marker_is_named(tmp_path):
    profile = load(str(_user_profile(tmp_path, "exp")))
    (tmp_path / "results" / "exp").mkdir(parents=True)
    (tmp_path / "results" / "exp" / MARKER).write_text("{not json")
    with pytest.raises(ProfileError, match=rf"results/exp/{MARKER} is unreadable .*restore it, or delete it"):
        check_identity(profile, tmp_path)


@pytest.mark.parametrize("name,error", [("my exp", "becomes a folder name"), ("weights", "name is reserved")])
def test_names_that_cannot_own_folders_are_refused(tmp_path, name, error):
    with pytest.raises(ProfileError, match=error):
        load(str(_user_profile(tmp_path, name)))


def test_an_unknown_profile_name_lists_the_known_ones():
    with pytest.raises(ProfileError) as ei:
        load("papr")
    assert str(ei.value).startswith("no profile named 'papr' in pipelines/profiles/ (did you mean 'paper'? known: ")
    assert "mini" in str(ei.value)


@pytest.mark.parametrize("config,error", [
    ({"profle": "paper"}, "unknown --config key 'profle' (did you mean profile?); "
                          "the accepted keys are: profile=NAME_OR_YAML"),
    ({"seed": 7}, "unknown --config key 'seed' (seed is a profile key: set it in a profile file (one that extends "
                  "mini, say) and pass profile=that.yaml); the accepted keys are: profile=NAME_OR_YAML"),
    ({"profile": "paper", "zzz": 1, "threads": 2}, "unknown --config keys 'threads', 'zzz' (threads is a profile key"),
    ({"profile": ""}, "--config profile= is empty: give a profile name (mini, paper) or a YAML path"),
    ({"profile": None}, "--config profile= is empty"),
])
def test_config_keys_other_than_profile_are_errors_listing_the_accepted_ones(config, error):
    with pytest.raises(ProfileError) as ei:
        config_profile(config, {})
    assert str(ei.value).startswith(error)


def test_config_profile_then_the_environment_then_mini():
    assert config_profile({"profile": "paper"}, {"JSCC_PROFILE": "x.yaml"}) == "paper"
    assert config_profile({}, {"JSCC_PROFILE": "x.yaml"}) == "x.yaml"
    assert config_profile({}, {"JSCC_PROFILE": ""}) == config_profile({}, {}) == "mini"
