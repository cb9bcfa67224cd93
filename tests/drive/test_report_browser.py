"""``drive eval --report``: the report of a real (tiny) suite, opened in headless Chromium."""

from __future__ import annotations

import json
import os

import pytest

from tests.browser import CHROMEDRIVER, CHROMIUM, check_report
from tests.helpers import drive_in_process


@pytest.fixture(scope="module")
def chromium() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.environ.get("CI"):  # .ci/run installs them: never skipped there
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} missing: .ci/run installs chromium-driver")
    pytest.skip("Debian's chromium and chromium-driver are not installed")


def test_eval_report_opens_in_chromium_with_its_rows_charts_and_video(chromium, tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text('description = "tiny"\nscenarios = ["u-turn"]\ntolerance = 0.05\n')
    report = tmp_path / "report"
    result = drive_in_process(
        "eval", "--suite", str(suite), "--workers", "1", "--report", str(report), "--videos", "1"
    )
    assert result.returncode == 0, result.stderr
    run = report / "run.json"
    document = json.loads(run.read_text())
    assert set(document["series"]["u-turn"]) == {"0", "1", "2"}
    assert len(list((report / "videos").glob("*.webm"))) == 1
    checked = check_report(report, [run])
    assert checked == {"rows": 1 + 3, "pages": 3, "videos": 1, "images": 0}

    # A rollout of the same scenario, reported on its own and compared with the eval: the
    # comparison's speed-against-collisions plot must load too.
    rolled = tmp_path / "rollout"
    result = drive_in_process(
        "rollout",
        "--scenario",
        "u-turn",
        "--episodes",
        "1",
        "--report",
        str(rolled),
        "--videos",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert check_report(rolled, [rolled / "run.json"])["pages"] == 1
    compared = tmp_path / "compared"
    result = drive_in_process(
        "report", str(run), str(rolled / "run.json"), "--out", str(compared), "--videos", "0"
    )
    assert result.returncode == 0, result.stderr
    checked = check_report(compared, [run, rolled / "run.json"], pages=1)
    assert checked["images"] == 1 and checked["rows"] == (1 + 3) + (1 + 1)
