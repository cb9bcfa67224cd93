"""Every result says where it came from, and ``drive compare`` warns when one stack's files differ."""

from __future__ import annotations

import hashlib
import json
import re

from drive.cli.report import comparison_rows
from drive.episode.stack import StackSpec
from drive.runs.comparison import describe_provenance, provenance_warnings
from planning.rl.planner import SHIPPED_POLICY
from sims.provenance import REPOSITORY, package_versions, provenance
from tests.helpers import drive_in_process


def test_provenance_names_the_commit_versions_and_every_loaded_file():
    files = StackSpec(perception="cnn", planner="default").files()
    record = provenance(files)
    assert re.fullmatch(r"[0-9a-f]{40}", record["commit"]) and isinstance(record["dirty"], bool)
    assert {"torch", "highway-env", "stable-baselines3", "python"} <= set(record["versions"])
    assert sorted(record["files"]) == [
        "perception/weights/stn-cnn/best.safetensors",
        "perception/weights/stn-cnn/card.json",
        "planning/rl/policies/default/policy.json",
        "planning/rl/policies/default/policy.zip",
    ]
    zip_hash = hashlib.sha256((SHIPPED_POLICY / "policy.zip").read_bytes()).hexdigest()
    assert record["files"]["planning/rl/policies/default/policy.zip"] == zip_hash
    assert StackSpec().files() == ()  # ground truth and the rules load no file
    assert (REPOSITORY / "sims" / "provenance.py").is_file()


def _result(path, *, planner="default", files=None, commit="a" * 40):
    document = json.loads((REPOSITORY / "docs/results/highway-rules.json").read_text())
    document["config"]["stack"]["planner"] = planner
    document["provenance"] = {
        "commit": commit,
        "dirty": False,
        "versions": {"torch": "2"},
        "files": files or {"planning/rl/policies/default/policy.zip": "1" * 64},
    }
    path.write_text(json.dumps(document))
    return path


def test_compare_warns_when_one_stack_ran_different_weights(tmp_path):
    one = _result(tmp_path / "one.json")
    same = _result(tmp_path / "same.json")
    other = _result(tmp_path / "other.json", files={"policy.zip": "2" * 64}, commit="b" * 40)
    assert provenance_warnings(comparison_rows([one, same])) == []
    [warning] = provenance_warnings(comparison_rows([one, other]))
    assert warning == (
        f"{other} and {one} are compared as the same stack (planner default) but differ in "
        "commit, files"
    )
    rules = _result(tmp_path / "rules.json", planner="rules", commit="c" * 40)
    assert provenance_warnings(comparison_rows([one, rules])) == []  # another stack: no warning
    result = drive_in_process("compare", str(one), str(other), "--markdown")
    assert result.returncode == 0, result.stderr
    assert f"{one}: commit aaaaaaaaaaaa; sha256 policy.zip 111111111111" in result.stderr
    assert "warning: " in result.stderr and "differ in commit, files" in result.stderr
    assert "warning" not in result.stdout  # the Markdown table stays alone on stdout


def test_a_result_without_provenance_is_said_so():
    assert describe_provenance(None) == "no provenance recorded"


def test_an_exact_baseline_made_under_other_simd_extensions_says_so():
    from drive.testing.items import _simd_hint
    from sims.provenance import numpy_simd

    here = numpy_simd()
    assert here and here == package_versions()["numpy-simd"]
    same = {"provenance": {"versions": {"numpy-simd": here}}}
    assert _simd_hint(same) == "" and _simd_hint({}) == ""
    elsewhere = "SSE42" if here != "SSE42" else "X86_V3"
    hint = _simd_hint({"provenance": {"versions": {"numpy-simd": elsewhere}}})
    assert repr(elsewhere) in hint and repr(here) in hint and "NPY_DISABLE_CPU_FEATURES" in hint
