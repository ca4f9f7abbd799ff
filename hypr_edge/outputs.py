"""Outputs that never destroy (docs/reliability.md).

atomic_path(path)      a single output file: written under a temporary name beside it and moved into place only
                       when the writer succeeded, so a failed or interrupted run leaves the old file (or none).
OutputFolder(path)     a generated folder: the files are written into a staging folder inside it, then moved into
                       place one by one; `.hypr-edge-manifest.json` records every file written (path, SHA-256).
                       Regenerating replaces only files the manifest lists, and removes listed files the new run
                       no longer writes if nobody edited them. A non-empty folder without a manifest (not written
                       by hypr-edge) is refused unless `force`; even then a file of the user's is never replaced
                       or removed: a path hypr-edge needs that holds a file it did not write is refused.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from .errors import CommandError

MANIFEST = ".hypr-edge-manifest.json"
STAGING_PREFIX = ".hypr-edge-staging-"


class OutputError(CommandError):
    """An output folder or file hypr-edge refuses to write (it would replace or remove a user's file)."""


# ---- one file -----------------------------------------------------------------------------------------------

def _missing_parents(path: Path) -> list[Path]:
    """The folders above `path` that do not exist yet, outermost first."""
    out, p = [], path.parent
    while not (p.exists() or p.is_symlink()) and p.parent != p:
        out.append(p)
        p = p.parent
    return out[::-1]


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            break


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same suffix, so writers that look at it keep working); on success
    it replaces `path` in one step. On failure the temporary file and any folder created for it are removed."""
    path = Path(path)
    created = _missing_parents(path)
    for folder in created:
        folder.mkdir()
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        _remove_empty(created)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


# ---- a generated folder ------------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _valid_rel(rel) -> bool:
    """A manifest entry: a plain relative path inside the folder (never absolute, never '..', not the manifest)."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        return False
    p = PurePosixPath(rel)
    return (not p.is_absolute() and all(part not in ("", ".", "..") for part in p.parts) and p.as_posix() == rel
            and rel != MANIFEST and not p.parts[0].startswith(STAGING_PREFIX))


def read_manifest(folder: Path) -> dict[str, str] | None:
    """{relative path: sha256} of a folder hypr-edge wrote; None when it has no manifest; OutputError when the
    manifest is damaged (then nothing in the folder can be told apart from the user's files)."""
    path = folder / MANIFEST
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict) or not all(_valid_rel(k) and isinstance(v, str) and
                                                  re.fullmatch(r"[0-9a-f]{64}", v) for k, v in files.items()):
            raise ValueError("bad entries")
        return dict(files)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        raise OutputError(f"{folder}: its {MANIFEST} is damaged, so hypr-edge cannot tell its files from yours; "
                          f"remove that file (and the files you do not need) or choose another folder") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_staging(folder: Path) -> list[Path]:
    """Staging folders left by a hypr-edge run that was killed (their process is gone)."""
    out = []
    for p in folder.glob(STAGING_PREFIX + "*"):
        m = re.fullmatch(re.escape(STAGING_PREFIX) + r"(\d+)-[0-9a-f]+", p.name)
        if m and p.is_dir() and not p.is_symlink() and not _pid_alive(int(m.group(1))):
            out.append(p)
    return out


class OutputFolder:
    """A folder a command generates (see the module doc). Use:

        with OutputFolder(out, force=args.force) as folder:
            write everything into folder.staging
            written = folder.commit()        # the final paths; nothing in `out` changes before this
    """

    def __init__(self, path: str | os.PathLike, force: bool = False):
        self.path = Path(path)
        self.force = force
        self.staging: Path | None = None
        self.previous: dict[str, str] = {}
        self._created: list[Path] = []
        self.kept: list[Path] = []          # listed files the new run no longer writes, kept because edited

    # -- before any work
    def __enter__(self) -> "OutputFolder":
        p = self.path
        if (p.exists() or p.is_symlink()) and not p.is_dir():
            raise OutputError(f"{p}: exists and is not a folder")
        if p.is_dir():
            for stale in _stale_staging(p):
                shutil.rmtree(stale, ignore_errors=True)
            previous = read_manifest(p)
            others = [e for e in p.iterdir() if not e.name.startswith(STAGING_PREFIX)]
            if previous is None and others and not self.force:
                shown = ", ".join(sorted(e.name for e in others)[:3]) + (", ..." if len(others) > 3 else "")
                raise OutputError(f"{p}: the folder holds files hypr-edge did not write ({shown}); choose a new or "
                                  f"empty folder, or add --force to write beside them (your files are never "
                                  f"replaced or removed)")
            self.previous = previous or {}
        else:
            self._created = [*_missing_parents(p), p]
            for folder in self._created:
                folder.mkdir()
        self.staging = p / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self.staging.mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.staging is not None and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
        if exc_type is not None:
            _remove_empty(self._created)

    # -- paths
    def final(self, staged: str | os.PathLike) -> Path:
        """Where a file written into the staging folder ends up."""
        return self.path / Path(staged).relative_to(self.staging)

    def _staged_files(self) -> dict[str, Path]:
        out = {}
        for f in sorted(self.staging.rglob("*")):
            if f.is_symlink() or (not f.is_dir() and not f.is_file()):
                raise OutputError(f"{f}: hypr-edge writes plain files only (internal error)")
            if f.is_file():
                out[f.relative_to(self.staging).as_posix()] = f
        return out

    def _conflicts(self, staged: dict[str, Path]) -> list[str]:
        """Paths the new files cannot take without replacing something that is not hypr-edge's."""
        bad = []
        for rel, src in staged.items():
            dest = self.path / rel
            parent = self.path
            for part in PurePosixPath(rel).parts[:-1]:
                parent = parent / part
                if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                    bad.append(f"{parent} (a {'link' if parent.is_symlink() else 'file'} where hypr-edge writes "
                               f"a folder)")
                    break
            else:
                if dest.is_symlink() or (dest.exists() and not dest.is_file()):
                    bad.append(f"{dest} (not a plain file)")
                elif dest.exists():
                    current = file_sha256(dest)
                    if current == file_sha256(src):
                        continue                          # the same bytes: replacing loses nothing
                    if rel not in self.previous:
                        bad.append(f"{dest} (yours: hypr-edge did not write it)")
                    elif current != self.previous[rel] and not self.force:
                        bad.append(f"{dest} (edited since hypr-edge wrote it; --force replaces it)")
        return bad

    # -- the only step that changes the folder
    def commit(self) -> list[Path]:
        """Move the staged files into place and write the manifest; returns the final paths."""
        staged = self._staged_files()
        bad = self._conflicts(staged)
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            raise OutputError(f"{self.path}: refusing to replace {'; '.join(bad[:3])}{more}; nothing was written")
        written = {}
        for rel, src in staged.items():
            dest = self.path / rel
            digest = file_sha256(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            written[rel] = digest
        for rel in sorted(set(self.previous) - set(written)):
            self._remove_if_unedited(rel)
        manifest = {"written_by": "hypr-edge", "note": "the files hypr-edge wrote here; it replaces only these",
                    "files": written}
        write_text_atomic(self.path / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        self._created = []
        return [self.path / rel for rel in written]

    def _remove_if_unedited(self, rel: str) -> None:
        """A file an earlier run wrote and this one does not: removed if unchanged since, else kept (and no longer
        listed: it is the user's now)."""
        dest = self.path / rel
        parents = []
        p = dest.parent
        while p != self.path:
            if p.is_symlink():
                return
            parents.append(p)
            p = p.parent
        if dest.is_symlink() or not dest.is_file():
            return
        if file_sha256(dest) != self.previous[rel]:
            self.kept.append(dest)
            return
        dest.unlink()
        for folder in parents:   # innermost first; stops at the first folder that still holds something
            try:
                folder.rmdir()
            except OSError:
                break
