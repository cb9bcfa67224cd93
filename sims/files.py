"""Atomic file writes: a crash or Ctrl-C leaves the previous file or none, never half of one.

Results, cards, weights, checkpoints, replay buffers, plots and dataset shards are all written
through :func:`atomic_path`. Two writers keep their own scheme: a policy and its card are staged
together in a folder (:func:`planning.rl.checkpoint.save_policy`), and a video streams into a
partial file that is renamed when it closes (:mod:`sims.video`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on a clean exit it replaces ``path``.

    The temporary file keeps ``path``'s suffix (``numpy.savez`` and others append theirs
    otherwise) and is removed if the block raises. The result is readable by all, like a
    file written directly: ``mkstemp`` alone would leave it private.

    :param path: the file to write; its folder is created if missing.
    :return: (yields) the temporary path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, f".{path.name}.*{path.suffix}")
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_stale(folder: Path, pattern: str) -> None:
    """Remove the temporaries matching ``pattern`` in ``folder`` that a killed writer left (a
    ``kill -9`` runs no cleanup): the next write of the same file clears them, so a resumed run
    leaves no half-written file behind. One writer per file is assumed, as everywhere here."""
    for stale in folder.glob(pattern):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


# The names atomic_path's and save_policy's temporaries take: ".NAME.<random>[.suffix]" and
# ".STEM-staging-<random>", where <random> is mkstemp's eight random characters.
_TEMPORARY = re.compile(r"^\.(.+\.[a-z0-9_]{8}(\.[^.]+)?|.+-staging-[a-z0-9_]{8})$")


def remove_temporaries(folder: Path) -> None:
    """Remove, anywhere under ``folder``, the temporaries a killed run left: a resumed run calls
    this first, so that it leaves no half-written file, whichever files it writes again."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob(".*"), reverse=True):
        if _TEMPORARY.match(path.name):
            remove_stale(path.parent, path.name)


def write_json(path: Path | str, document: Any, *, allow_nan: bool = False) -> Path:
    """Write ``document`` as indented JSON to ``path``, atomically.

    :param allow_nan: write NaN as Python's ``json`` does (``NaN``, which strict JSON readers
        refuse) instead of raising. Training cards allow it: a metric with nothing to measure in
        an epoch (no vehicle in view, say) is NaN there.
    :return: ``path``.
    """
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(document, indent=2, allow_nan=allow_nan) + "\n")
    return Path(path)


def save_torch(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` a checkpoint to ``path``, atomically.

    :param state: what ``torch.load(path, weights_only=True)`` gives back.
    :param path: the checkpoint file, e.g. ``last.pt``.
    """
    import torch  # here, not at the top: the dataset writers import this module without torch

    with atomic_path(path) as temporary:
        torch.save(state, temporary)
