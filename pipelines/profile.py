"""Profile lookup for the pipelines: a name ("mini", "paper") or a path to a YAML file."""
from __future__ import annotations

import os
from pathlib import Path

from jscc_core.profiles import Profile, load_profile

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILE_DIR = REPO_ROOT / "pipelines" / "profiles"
SCHEMA = PROFILE_DIR / "schema.yaml"


def profile_path(ref: str) -> Path:
    """``mini`` -> pipelines/profiles/mini.yaml; a ``.yaml`` path is taken relative to the working folder."""
    if ref.endswith((".yaml", ".yml")):
        return Path(ref).absolute()
    return PROFILE_DIR / f"{ref}.yaml"


def profile_dep(ref: str) -> str:
    """The profile file as a stage dependency: repo-relative when inside the repo."""
    path = profile_path(ref)
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load(ref: str | None = None, overrides: dict | None = None) -> Profile:
    """Load and validate a profile; the default is $JSCC_PROFILE or ``mini``."""
    ref = ref or os.environ.get("JSCC_PROFILE", "mini")
    return load_profile(profile_path(ref), SCHEMA, overrides=overrides)


def results_dir(profile: Profile) -> str:
    """Intermediate results of a profile live under results/<profile name>/ (repo-relative)."""
    return f"results/{profile.name}"
