"""Annotate the result JSONs the README cites with their provenance, after the fact (issue 33).

Results written before ``sims/provenance.py`` existed say neither which commit nor which weights
made them. For each such file this adds the ``provenance`` block a run writes today, recovered
from git: ``commit`` is the commit that committed the file, ``files`` the sha256 of each policy,
weights and card file the result's stack loads, as committed at that commit. ``dirty`` is null:
whether the tree that produced the file matched its commit is not known (the regression baseline's
did not). ``annotated`` says so in the file. A file that already has a block is left alone.

Run from the repository root: ``.venv/bin/python docs/experiments/annotate_provenance.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
POLICIES = {"default": "default", "default-unguarded": "default", "polite": "polite"}
NOTE = (
    "added after the fact by docs/experiments/annotate_provenance.py (issue 33): commit is the "
    "commit that committed this file, files the hashes of what its stack loads as committed "
    "there; whether the tree that produced it was dirty is not known"
)


def git(*arguments: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(ROOT), *arguments], capture_output=True, check=True
    ).stdout


def loaded_files(document: dict[str, Any]) -> tuple[list[str], str]:
    """The repository paths of the files the result's stack loaded, and a remark on any other."""
    stack = (document.get("config") or {}).get("stack") or {}
    files: list[str] = []
    if stack.get("planner") in POLICIES:
        folder = f"planning/rl/policies/{POLICIES[stack['planner']]}"
        files += [f"{folder}/policy.zip", f"{folder}/policy.json"]
    if stack.get("perception") == "cnn":
        files += [
            "perception/weights/stn-cnn/best.safetensors",
            "perception/weights/stn-cnn/card.json",
        ]
    weights = document.get("weights")
    folders = list(weights.values()) if isinstance(weights, dict) else [weights] if weights else []
    remark = ""
    for folder in folders:
        if str(folder).startswith("perception/weights/"):
            files += [f"{folder}/best.safetensors", f"{folder}/card.json"]
        else:
            remark = f"; its weights ({folder}) are not in the repository, so no hash"
    if str(stack.get("planner", "")).startswith("sb3-dqn ("):
        remark = f"; its policy ({stack['planner'][9:-1]}) is not in the repository, so no hash"
    return files, remark


def annotate(path: Path) -> bool:
    """Add the block to ``path`` unless it has one; return whether it was added."""
    document = json.loads(path.read_text())
    if "provenance" in document:
        return False
    relative = path.relative_to(ROOT).as_posix()
    commit = git("log", "-1", "--format=%H", "--", relative).decode().strip()
    files, remark = loaded_files(document)
    document["provenance"] = {
        "commit": commit,
        "dirty": None,
        "versions": document.get("versions") or (document.get("config") or {}).get("versions"),
        "files": {
            name: hashlib.sha256(git("show", f"{commit}:{name}")).hexdigest() for name in files
        },
        "annotated": NOTE + remark,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return True


def cited() -> list[Path]:
    """The result JSONs the README links to."""
    names = sorted(set(re.findall(r"docs/results/[\w.-]+\.json", (ROOT / "README.md").read_text())))
    return [ROOT / name for name in names]


if __name__ == "__main__":
    for result in cited():
        print(
            ("annotated " if annotate(result) else "unchanged ")
            + result.relative_to(ROOT).as_posix()
        )
