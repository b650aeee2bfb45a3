"""Why a figure is stale: the stages upstream of it and the code they read (the stage graph),
the files git says changed since the commit its JSON records, and the upstream outputs newer
than its JSON; also how an unreadable file's reason is worded."""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import yaml

from jscc_core.profiles import Profile, ProfileError, load_profile
from pipelines.stage import Stage

_LISTED = 6  # file names listed in one staleness reason before "and N more"


def _dep_paths(stage: Stage) -> tuple[str, ...]:
    return tuple(d.rstrip("/") for d in stage.deps)


class StageGraph:
    """Which stage writes which path, and the stages upstream of a stage.

    ``stages``: the stage list (repo-relative paths).  A dep is produced by a stage that writes
    it, a folder holding it, or files inside it (a dep that is a folder of outputs).
    """

    def __init__(self, stages: Iterable[Stage]):
        self.stages = list(stages)
        self._writes: dict[str, list[Stage]] = defaultdict(list)
        self._below: dict[str, list[Stage]] = defaultdict(list)
        for stage in self.stages:
            for out in stage.out_paths:
                self._writes[out].append(stage)
                parts = out.split("/")
                for i in range(1, len(parts)):
                    self._below["/".join(parts[:i])].append(stage)

    def producers(self, dep: str) -> list[Stage]:
        """Stages writing ``dep`` (repo-relative file or folder)."""
        dep = dep.rstrip("/")
        found = list(self._writes.get(dep, ())) + list(self._below.get(dep, ()))
        parts = dep.split("/")
        for i in range(1, len(parts)):
            found += self._writes.get("/".join(parts[:i]), ())
        unique = {id(s): s for s in found}
        return sorted(unique.values(), key=lambda s: s.name)

    def upstream(self, stage: Stage) -> list[Stage]:
        """Every stage whose outputs ``stage`` reads, directly or through other stages, by name."""
        seen: dict[int, Stage] = {}
        todo = [stage]
        while todo:
            current = todo.pop()
            for dep in _dep_paths(current):
                for producer in self.producers(dep):
                    if producer is not stage and id(producer) not in seen:
                        seen[id(producer)] = producer
                        todo.append(producer)
        return sorted(seen.values(), key=lambda s: s.name)

    def code_deps(self, stage: Stage, exclude: Iterable[str] = ()) -> list[str]:
        """Deps of ``stage`` and of its upstream stages that no stage writes (code, configuration,
        data supplied from outside), less the repo-relative paths ``exclude`` and paths outside
        the repository."""
        skip = {e.rstrip("/") for e in exclude}
        deps = set()
        for st in (stage, *self.upstream(stage)):
            for dep in _dep_paths(st):
                if dep in skip or os.path.isabs(dep) or dep.startswith("../") or self.producers(dep):
                    continue
                deps.add(dep)
        return sorted(deps)


class GitError(RuntimeError):
    """git cannot answer (no repository, unknown commit, no git)."""


class GitChanges:
    """Files of the repository at ``root`` (a git work tree) that differ from a recorded commit."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._since: dict[str, dict[str, str] | GitError] = {}
        self._local: dict[str, str] | GitError | None = None

    def _git(self, *args: str) -> str:
        try:
            r = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise GitError(f"git {args[0]} failed: {exc}") from exc
        if r.returncode != 0:
            raise GitError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"git {args[0]} failed")
        return r.stdout

    def _names(self, *args: str) -> list[str]:
        return [n for n in self._git(*args, "-z").split("\0") if n]

    def head(self) -> tuple[str, bool | None]:
        """(HEAD commit, whether tracked files have uncommitted changes)."""
        try:
            commit = self._git("rev-parse", "--verify", "HEAD").strip()
        except GitError:
            return "unknown", None
        try:
            return commit, any(how == "uncommitted" for how in self.local().values())
        except GitError:
            return commit, None

    def local(self) -> dict[str, str]:
        """``{path: "uncommitted" | "untracked"}`` of the working tree against HEAD."""
        if self._local is None:
            try:
                changed = {p: "uncommitted" for p in self._names("diff", "--name-only", "--no-renames",
                                                                 "--relative", "HEAD")}
                changed.update({p: "untracked" for p in self._names("ls-files", "--others", "--exclude-standard")})
                self._local = changed
            except GitError as exc:
                self._local = exc
        if isinstance(self._local, GitError):
            raise self._local
        return self._local

    def show(self, commit: str, path: str) -> str:
        """The text of the repo-relative ``path`` at ``commit``.  Raises :class:`GitError`."""
        return self._git("show", f"{commit}:{path}")

    def since(self, commit: str) -> dict[str, str]:
        """``{path: how}`` of every file whose working-tree state differs from ``commit`` (a commit
        id); ``how`` is "uncommitted", "untracked" or "committed since <commit>".  Raises
        :class:`GitError`."""
        if commit not in self._since:
            try:
                if not re.fullmatch(r"[0-9a-fA-F]{7,64}", commit or ""):
                    raise GitError(f"the recorded commit {commit!r} is not a commit id")
                try:
                    self._git("cat-file", "-e", f"{commit}^{{commit}}")
                except GitError as exc:
                    raise GitError(f"the recorded commit {commit[:12]} is not in this repository") from exc
                local = self.local()
                changed = {p: local.get(p, f"committed since {commit[:12]}")
                           for p in self._names("diff", "--name-only", "--no-renames", "--relative", commit)}
                changed.update({p: how for p, how in local.items() if how == "untracked"})
                self._since[commit] = changed
            except GitError as exc:
                self._since[commit] = exc
        result = self._since[commit]
        if isinstance(result, GitError):
            raise result
        return result


def _under(path: str, dep: str) -> bool:
    return path == dep or path.startswith(dep + "/")


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def mtime_ns(path: Path) -> int | None:
    """Newest modification time of the file ``path``, or of the files below the folder ``path``
    (None: absent)."""
    try:
        if path.is_dir():
            times = [p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()]
            return max(times) if times else None
        return path.stat().st_mtime_ns
    except OSError:
        return None


def profile_files(profile: Profile, root: Path) -> list[str]:
    """The repo-relative files of ``profile`` (its YAML and the ones it extends) below ``root``;
    they are judged by the profile's sha256 rather than by git."""
    found = []
    for p in (profile.path, *profile.sources):
        if p:
            try:
                found.append(Path(p).resolve().relative_to(root).as_posix())
            except ValueError:
                pass
    return found


def recorded_profile(provenance: Mapping, git: GitChanges) -> Profile | None:
    """The profile a figure was made with, rebuilt from its file (and the files it extends) at the
    commit its JSON records, with the recorded overrides; None when it cannot be rebuilt or the
    rebuilt profile's sha256 is not the recorded one (e.g. it was edited and not committed)."""
    prof, commit = provenance.get("profile") or {}, str((provenance.get("git") or {}).get("commit") or "")
    rel, recorded = prof.get("path"), prof.get("sha256")
    if not (rel and recorded and commit):
        return None
    # the figures of one run share commit and profile: rebuilt once
    overrides = json.dumps(prof.get("overrides") or {}, sort_keys=True)
    return _rebuilt_profile(git, commit, str(rel), str(recorded), overrides)


@functools.lru_cache(maxsize=64)
def _rebuilt_profile(git: GitChanges, commit: str, rel: str, recorded: str, overrides: str) -> Profile | None:
    try:
        with tempfile.TemporaryDirectory() as tmp:
            todo = [Path(os.path.normpath(rel))]
            while todo:  # the file and its extends chain, as they were at the commit
                current = todo.pop()
                if current.is_absolute() or current.parts[:1] == ("..",):  # outside the repository
                    return None
                text = git.show(commit, current.as_posix())
                (Path(tmp) / current).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / current).write_text(text)
                base = (yaml.safe_load(text) or {}).get("extends")
                if base:
                    todo.append(Path(os.path.normpath(current.parent / str(base))))
            then = load_profile(Path(tmp) / rel, {}, overrides=json.loads(overrides) or None)
    except (GitError, ProfileError, yaml.YAMLError, OSError, AttributeError, ValueError):
        return None
    return then if then.sha256 == recorded else None


_ABSENT = object()


def _lookup(data: Mapping, key: str):
    node = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def changed_keys(before: Profile, after: Profile, stages: Iterable[Stage]) -> list[str]:
    """The dotted profile keys declared by ``stages`` (their ``params``) whose values differ
    between ``before`` and ``after`` (a key absent from one of them differs), sorted."""
    old, new = before.to_dict(), after.to_dict()  # plain copies: comparing is not a stage's read
    keys = {key for st in stages for key in st.params}
    return sorted(k for k in keys if _lookup(old, k) != _lookup(new, k))


def stale_reasons(provenance: Mapping, stage: Stage, json_path: Path, *, profile: Profile, graph: StageGraph,
                  git: GitChanges, root: Path, skip: Sequence[str], mtimes: dict[str, int | None]) -> list[str]:
    """Every reason the figure of ``stage`` is stale (none: it is regenerated).

    ``provenance``: its JSON, read from ``json_path``; ``profile``: the current profile; ``graph``:
    the stage graph; ``git``: the changes of the work tree ``root``; ``skip``: repo-relative files
    not judged by git (:func:`profile_files`); ``mtimes``: the outputs' times read so far, shared
    by the figures and filled here.
    """
    reasons = []
    recorded = (provenance.get("profile") or {}).get("sha256")
    commit = str((provenance.get("git") or {}).get("commit") or "unknown")
    if recorded != profile.sha256:
        made_with = recorded_profile(provenance, git)
        name = (provenance.get("profile") or {}).get("name") or "an unnamed profile"
        made = str(recorded)[:12] if recorded else "unrecorded"
        if made_with is None:  # the profile it was made with cannot be rebuilt: any change counts
            reasons.append(f"profile changed: made with {name} (sha256 {made}), the current profile is "
                           f"{profile.name} (sha256 {str(profile.sha256)[:12]})")
        else:  # only the keys this figure's stages read count
            keys = changed_keys(made_with, profile, (stage, *graph.upstream(stage)))
            if keys:
                reasons.append(f"profile keys it reads changed since it was made with {name} (sha256 {made}): "
                               + _listing(keys))
    code = graph.code_deps(stage, exclude=skip)
    try:
        changed = git.since(commit)
        hits = sorted(p for p in changed if any(_under(p, d) for d in code))
        if hits:
            ran_dirty = (provenance.get("git") or {}).get("dirty") is True
            reasons.append(f"code changed since {commit[:12]}: "
                           + _listing([f"{p} ({changed[p]})" for p in hits])
                           + ("; the run itself had uncommitted changes" if ran_dirty else ""))
    except GitError as exc:
        reasons.append(f"code changes cannot be checked: {exc}")
    json_time = mtime_ns(json_path) or 0
    upstream_outs = [out for st in graph.upstream(stage) for out in st.out_paths]
    for out in upstream_outs:
        if out not in mtimes:
            mtimes[out] = mtime_ns(root / out)
    newer = sorted({out for out in upstream_outs if mtimes[out] is not None and mtimes[out] > json_time})
    if newer:
        reasons.append("upstream output newer than the figure's JSON: " + _listing(newer))
    return reasons


def unreadable_reason(exc: Exception, root: Path, rel: str) -> str:
    """``rel: <what went wrong>`` for the error ``exc`` reading the repo-relative file ``rel``,
    without absolute paths below ``root`` (and without naming ``rel`` twice)."""
    text = (str(exc).strip() or type(exc).__name__).replace(f"{root}{os.sep}", "")
    return f"{rel}: {text[len(rel) + 2:] if text.startswith(rel + ': ') else text}"
