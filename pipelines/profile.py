"""Profile lookup for the pipelines: a name ("mini", "paper") or a path to a YAML file.

    python -m pipelines.profile flatten tests/profiles/smoke.yaml smoke_flat.yaml   # extends resolved
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml

from jscc_core.profiles import Profile, ProfileError, load_profile, log_reads

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
    """Load and validate a profile; the default is $JSCC_PROFILE or ``mini``.  With
    $JSCC_PROFILE_READS set to a file, the keys the process reads are appended to it at exit
    (the tests check them against each stage's declared ``params``)."""
    ref = ref or os.environ.get("JSCC_PROFILE", "mini")
    if os.environ.get("JSCC_PROFILE_READS"):
        log_reads(os.environ["JSCC_PROFILE_READS"])
    return load_profile(profile_path(ref), SCHEMA, overrides=overrides)


def flatten(ref: str, out: Path) -> Path:
    """Write profile ``ref`` with its ``extends`` chain merged into one file (``out``), e.g. for DVC,
    which reads parameter values from one file."""
    profile = load(ref)
    text = (f"# {profile.name}, merged from {', '.join(str(p) for p in profile.sources)} "
            f"by `python -m pipelines.profile flatten`\n")
    out.write_text(text + yaml.safe_dump(profile.to_dict(), sort_keys=False, width=120))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fl = sub.add_parser("flatten", help="write a profile with extends resolved")
    fl.add_argument("profile")
    fl.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        print(flatten(args.profile, args.out))
    except ProfileError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
