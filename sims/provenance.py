"""Where a result came from: the commit (and whether the tree was dirty), the package versions,
and the sha256 of every policy or weights file the run loaded.

Every result JSON carries this as its ``provenance`` block (shared/CONVENTIONS.md, item 15), and
``drive compare`` shows it and warns when two files compared as the same stack differ in it.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
# The packages that decide a run's numbers.
PACKAGES = ("drive-stack", "highway-env", "gymnasium", "numpy", "torch", "stable-baselines3")


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers, and Python's."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["python"] = platform.python_version()
    versions["numpy-simd"] = numpy_simd()
    return versions


def numpy_simd() -> str:
    """The SIMD extensions numpy dispatches to on this CPU, beyond its build's baseline.

    numpy's vectorised sin, cos and exp round differently under AVX-512 than under AVX2, and
    highway-env's traffic amplifies one ulp into metres within an episode: an exact replay of a
    result holds only where this matches (``NPY_DISABLE_CPU_FEATURES`` lowers it).
    """
    try:  # numpy's own record of what it dispatches to; private, so read defensively
        from numpy._core._multiarray_umath import (
            __cpu_dispatch__,
            __cpu_features__,
        )
    except ImportError:
        return "unknown"
    return " ".join(name for name in __cpu_dispatch__ if __cpu_features__.get(name)) or "none"


@functools.lru_cache(maxsize=1)
def git_commit() -> tuple[str | None, bool | None]:
    """The commit of the checkout this code runs from, and whether its tracked files differ from
    it; (None, None) outside a git checkout (an installed wheel, a copied tree).

    Read once per process: a run reports the tree it started from.
    """

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPOSITORY), *arguments],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


def sha256(path: Path) -> str:
    """The sha256 of the file at ``path``, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def display_path(path: Path) -> str:
    """``path`` relative to the repository when inside it (the same on every checkout)."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(REPOSITORY).as_posix()
    except ValueError:
        return str(resolved)


def provenance(files: Iterable[Path] = ()) -> dict[str, Any]:
    """The ``provenance`` block of a result JSON.

    :param files: the policy, weights and card files the run loaded.
    :return: ``commit`` (null outside a git checkout), ``dirty``, ``versions`` and ``files``
        (path -> sha256).
    """
    commit, dirty = git_commit()
    return {
        "commit": commit,
        "dirty": dirty,
        "versions": package_versions(),
        "files": {display_path(path): sha256(path) for path in sorted(set(files))},
    }
