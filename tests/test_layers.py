"""The layer contracts of pyproject.toml hold, and cover every module a new file could add."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.unit


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["name"]: contract for contract in config["contracts"]}


def test_lint_imports_keeps_every_contract():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("contract", "package"),
    [
        ("control reads only the plan message from planning", "planning"),
        ("planning reads only the scene message from perception", "perception"),
    ],
)
def test_only_the_message_module_is_left_out_of_a_forbidden_list(contract, package):
    """A module added to the feeding stage is forbidden until someone decides otherwise."""
    forbidden = set(_contracts()[contract]["forbidden_modules"])
    modules = {
        f"{package}.{path.stem if path.suffix else path.name}"
        for path in (ROOT / package).iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert modules - forbidden == {f"{package}.base"}
