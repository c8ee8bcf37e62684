"""Model folders (``file:///PATH`` sources): the walk, the checks that it is a model, the digest.

A folder must look like a model: a ``config.json`` file and weight files, none of them empty.
Links are followed, because a Hugging Face cache snapshot is made of links into its blobs; a
broken link, a loop (a link to a folder that holds it, ``sub -> ..`` too), an unreadable
entry, or one that is not a regular file is an error that names it and says what it is,
since a model with a file silently left out would be served broken.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from contextlib import suppress
from pathlib import Path

from llama_rollout.errors import SourceError, SourceNotFoundError
from llama_rollout.weights.model_files import (
    ResolvedSource,
    SourceFile,
    SourceSpec,
    select_serving_files,
)

logger = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".gguf", ".h5", ".msgpack", ".ckpt")
MODEL_HINT = "give the folder that holds the model's config.json and its *.safetensors"


def resolve_folder(spec: SourceSpec) -> ResolvedSource:
    """Pin a folder to the digest of its files (path, size, sha256 of each)."""
    root = Path(spec.location)
    try:
        mode = root.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ENOENT and not root.is_symlink():
            raise SourceNotFoundError(
                f"model folder {root} does not exist",
                hint="give the folder that holds config.json",
            ) from None
        problem = _unreadable(root, exc).message
        raise SourceError(f"model folder {problem}", hint=MODEL_HINT) from None
    if not stat.S_ISDIR(mode):
        raise SourceError(f"model folder {root} is {_kind(mode)}, not a folder", hint=MODEL_HINT)
    _check_config(root)  # before reading a folder that is no model
    kept, skipped = select_serving_files(folder_files(root))
    files = tuple(
        SourceFile(path, (root / path).stat().st_size, _sha256_of(root / path)) for path in kept
    )
    check_weights(root, files)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.path}\0{f.size}\0{f.sha256}\n".encode())
    revision = digest.hexdigest()
    logger.info("resolved %s to content digest %s: %d files", spec, revision, len(files))
    return ResolvedSource(spec, revision, files, tuple(skipped))


def _check_config(root: Path) -> None:
    """A model folder has a ``config.json``, and it is a file one can read."""
    config = root / "config.json"
    try:
        mode = config.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ENOENT and not config.is_symlink():
            raise SourceError(
                f"{root} has no config.json: it is not a model folder", hint=MODEL_HINT
            ) from None
        raise _unreadable(config, exc) from None
    if not stat.S_ISREG(mode):
        raise SourceError(
            f"{config} is {_kind(mode)}, not a file: a model's config.json is a JSON file",
            hint="replace it with the model's config.json, or give the model's own folder",
        )


def _kind(mode: int) -> str:
    """What a path that is no regular file is, in words."""
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "a regular file" if stat.S_ISREG(mode) else "not a file or folder"


def folder_files(root: Path) -> list[str]:
    """Every file of a model folder, as sorted relative paths, following links (see the
    module's docstring for what fails). Hidden entries (``.cache/`` of ``hf download
    --local-dir``, ``.git``) are left out."""
    found: list[str] = []

    def walk(folder: Path, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise _unreadable(Path(folder), exc) from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                info = path.stat()
            except OSError as exc:
                raise _unreadable(path, exc) from None
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in ancestors:
                    raise SourceError(
                        f"{path} links back to a folder that contains it (a symlink loop)",
                        hint="remove the link from the model folder",
                    )
                if key in above:  # sub -> .. : the walk would leave the model folder
                    raise SourceError(
                        f"{path} links to {os.path.realpath(path)}, a folder that holds the "
                        f"model folder {root} (a symlink loop)",
                        hint="remove the link from the model folder",
                    )
                walk(path, ancestors | {key})
            elif not stat.S_ISREG(info.st_mode):
                raise SourceError(
                    f"{path} is {_kind(info.st_mode)}, not a regular file or folder",
                    hint="remove it from the model folder",
                )
            elif not os.access(path, os.R_OK):
                raise _unreadable(path, PermissionError(errno.EACCES, "permission denied"))
            else:
                found.append(path.relative_to(root).as_posix())

    top = root.stat()
    # The folders that hold the model folder: a link to one of them is a loop that would
    # walk into other folders (a sibling model's, the whole disk) before it came back.
    above = set()
    for folder in Path(os.path.realpath(root)).parents:
        with suppress(OSError):
            info = folder.stat()
            above.add((info.st_dev, info.st_ino))
    walk(root, frozenset({(top.st_dev, top.st_ino)}))
    return found


def _unreadable(path: Path, exc: OSError) -> SourceError:
    if exc.errno == errno.ELOOP:
        return SourceError(
            f"{path} is a symlink loop", hint="remove the link from the model folder"
        )
    if exc.errno == errno.ENOENT and path.is_symlink():
        return SourceError(
            f"{path} is a broken link (to {os.readlink(path)})",
            hint="restore its target, or remove the link from the model folder",
        )
    return SourceError(
        f"cannot read {path}: {exc.strerror or exc}",
        hint="make it readable by this user, or remove it from the model folder",
    )


def check_weights(where: Path | str, files: tuple[SourceFile, ...]) -> None:
    """A model has weight files, none of them empty; else SourceError."""
    weights = [f for f in files if f.path.endswith(WEIGHT_SUFFIXES)]
    if not weights:
        raise SourceError(
            f"{where} has no weight files ({', '.join(WEIGHT_SUFFIXES)})", hint=MODEL_HINT
        )
    if empty := [f.path for f in weights if f.size == 0]:
        raise SourceError(
            f"weight file {empty[0]} in {where} is empty (0 bytes)",
            hint="download the model again; an interrupted download leaves empty files",
        )


def _sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
