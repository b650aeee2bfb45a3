"""Profile lookup for the pipelines: a name ("mini", "paper") or a path to a YAML file.

A profile's results, checkpoints and logs live in results/<name>/, checkpoints/<name>/ and
logs/<name>/, so a name belongs to one profile file. The built-in profiles (pipelines/profiles/
and tests/profiles/) keep theirs: another file of the same name is refused unless it holds the
same profile. Any other profile records its file in those folders on first use
(``.profile-source.json``), and a second file of the same name is refused there.

    python -m pipelines.profile flatten tests/profiles/smoke.yaml smoke_flat.yaml   # extends resolved
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from jscc_core.profiles import Profile, ProfileError, load_profile, load_schema, log_reads

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILE_DIR = REPO_ROOT / "pipelines" / "profiles"
SCHEMA = PROFILE_DIR / "schema.yaml"
BUILTIN_DIRS = (PROFILE_DIR, REPO_ROOT / "tests" / "profiles")  # profiles that ship with the project
PROFILE_FOLDERS = ("results", "checkpoints", "logs")  # <folder>/<profile name>/ belongs to one profile
MARKER = ".profile-source.json"  # in each of them: the profile file that owns it
RESERVED = {"weights": "checkpoints/weights holds the converted LPIPS backbones"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a folder name and a word of a shell command
CONFIG_KEYS = {"profile": "NAME_OR_YAML"}  # the only --config key of the Snakefile


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
    (the tests check them against each stage's declared ``params``).  A profile whose name another
    profile file owns is refused (:func:`check_identity`, in the working folder)."""
    ref = ref or os.environ.get("JSCC_PROFILE", "mini")
    if os.environ.get("JSCC_PROFILE_READS"):
        log_reads(os.environ["JSCC_PROFILE_READS"])
    path = profile_path(ref)
    if not path.is_file():
        raise ProfileError(_not_found(ref, path))
    profile = load_profile(path, SCHEMA, overrides=overrides)
    check_identity(profile)
    return profile


def _not_found(ref: str, path: Path) -> str:
    if ref.endswith((".yaml", ".yml")):
        return f"profile file {path} does not exist"
    names = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml") if p != SCHEMA)
    close = difflib.get_close_matches(ref, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (f"no profile named {ref!r} in {_shown(PROFILE_DIR)}/ ({hint}known: {', '.join(names)}); "
            "or give the path of a .yaml file")


def config_profile(config: Mapping, environ: Mapping[str, str] = os.environ) -> str:
    """The profile a Snakemake run asks for: ``--config profile=NAME_OR_YAML``, else $JSCC_PROFILE,
    else ``mini``.  Snakemake would ignore any other key, so it is an error naming the accepted ones."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        accepted = ", ".join(f"{key}={value}" for key, value in CONFIG_KEYS.items())
        hints = []
        profile_keys = set(load_schema(SCHEMA).get("properties", {}))
        for key in unknown:
            if key in profile_keys:
                hints.append(f"{key} is a profile key: set it in a profile file (one that extends mini, say) "
                             "and pass profile=that.yaml")
            elif close := difflib.get_close_matches(key, list(CONFIG_KEYS), n=1):
                hints.append(f"did you mean {close[0]}?")
        hint = f" ({'; '.join(hints)})" if hints else ""
        raise ProfileError(f"unknown --config key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                           f"{hint}; the accepted keys are: {accepted}")
    if "profile" in config:
        ref = config["profile"]
        if ref is None or not str(ref).strip():
            raise ProfileError("--config profile= is empty: give a profile name (mini, paper) or a YAML path")
        return str(ref)
    return environ.get("JSCC_PROFILE") or "mini"


# --------------------------------------------------------------------------- a profile's identity


def builtin_profiles() -> dict[str, Path]:
    """``{name: file}`` of the profiles that ship with the project."""
    out: dict[str, Path] = {}
    for folder in BUILTIN_DIRS:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
            if path != SCHEMA:
                out.setdefault(path.stem, path)
    return out


def _shown(path: Path) -> str:
    """A file as shown in messages (and a built-in profile as recorded): repo-relative inside the
    repository, else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return str(path)


def _same_profile(a: Path, b: Path) -> bool:
    """Whether two files hold the same profile (their data after ``extends``, without overrides)."""
    try:
        return load_profile(a, SCHEMA).sha256 == load_profile(b, SCHEMA).sha256
    except ProfileError:
        return False


def profile_source(profile: Profile, root: str | os.PathLike | None = None) -> str:
    """The file that owns ``profile``'s folders, as recorded in them: the built-in profile of its
    name, repo-relative (a copy of it elsewhere included), else its own file, relative to the
    project folder ``root`` (default: the working folder) when inside it, else absolute.  A
    profile of a built-in's name that differs from it is a :class:`ProfileError` naming both files."""
    if not NAME.match(profile.name):
        raise ProfileError(f"profile {profile.name!r} ({profile.path}): a profile's name becomes a folder name and "
                           "a word of every stage command; rename the file to letters, digits, '_', '.' and '-'")
    if profile.name in RESERVED:
        raise ProfileError(f"profile {profile.name!r} ({profile.path}): the name is reserved "
                           f"({RESERVED[profile.name]}); rename the file")
    own = Path(profile.path)
    builtin = builtin_profiles().get(profile.name)
    if builtin is None:
        try:
            return own.resolve().relative_to(Path(root or Path.cwd()).resolve()).as_posix()
        except ValueError:
            return str(own.resolve())
    if builtin.resolve() != own.resolve() and not _same_profile(builtin, own):
        *first, last = (f"{kind}/{profile.name}" for kind in PROFILE_FOLDERS)
        raise ProfileError(f"profile {own} has the name of the built-in profile {_shown(builtin)}, whose "
                           f"{', '.join(first)} and {last} it would overwrite; rename it (e.g. to my_{own.name})")
    return _shown(builtin)


def _marker_source(marker: Path) -> str:
    try:
        return str(json.loads(marker.read_text(encoding="utf-8"))["source"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProfileError(f"{marker} is unreadable ({exc.__class__.__name__}: {exc}); it names the profile file "
                           f"that owns {marker.parent}: restore it, or delete it if that folder is yours") from None


def check_identity(profile: Profile, root: str | os.PathLike | None = None, claim: bool = False) -> str:
    """Refuse ``profile`` if results/<name>, checkpoints/<name> or logs/<name> under ``root`` (default:
    the working folder) belong to another profile file; record its file in those that exist (all
    three, created, with ``claim``: a run that writes into them).  Returns the recorded source."""
    root = Path.cwd() if root is None else Path(root).absolute()
    source = profile_source(profile, root)
    folders = [root / kind / profile.name for kind in PROFILE_FOLDERS]
    for folder in folders:
        marker = folder / MARKER
        if marker.is_file() and (other := _marker_source(marker)) != source:
            mine = [str((f / MARKER).relative_to(root)) for f in folders if (f / MARKER).is_file()]
            raise ProfileError(
                f"profile {_shown(Path(profile.path))}: {folder.relative_to(root)} belongs to another profile named "
                f"{profile.name!r}, {other} ({marker.relative_to(root)}); rename {Path(profile.path).name}, or, if it "
                f"replaces {other}, delete {', '.join(mine)}")
    for folder in folders:
        marker = folder / MARKER
        if marker.is_file() or not (claim or folder.is_dir()):
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = marker.with_name(f"{MARKER}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"profile": profile.name, "source": source, "sha256": profile.sha256},
                                      indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, marker)
        except OSError:
            if claim:
                raise
    return source


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
