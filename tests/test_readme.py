"""The README's quick start is what CI runs, and its commands exist."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ci_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return next(line for line in lines if "pytest" in line and not line.startswith("#"))


def test_ci_runs_the_readme_test_command():
    assert f"\n{_ci_command()}\n" in (ROOT / "README.md").read_text()


def test_readme_quick_start_runs_the_demo():
    assert (
        "\npython3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/drive demo\n"
        in (ROOT / "README.md").read_text()
    )
