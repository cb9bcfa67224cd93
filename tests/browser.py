"""Open a ``drive report`` in headless Chromium and check it as a user would see it.

Debian's ``chromium`` and ``chromium-driver`` drive it (``.ci/run`` installs them): Selenium is
pointed at ``/usr/bin/chromedriver`` explicitly, so its selenium-manager never downloads a driver.
Checks: no console error on any page; each run's scenario and episode tables hold the run file's
rows, scores and verdicts; a click sorts a table; every episode page draws its charts from the
run's series; every image loads; every video plays (its duration is positive).

Also a command, for a report written by hand (``drive eval --report out/report``)::

    python -m tests.browser out/report out/report/run.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHARTS = 6  # drive.report.site.PANELS


def browser() -> Any:
    """A headless Chromium under Selenium, with its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1400"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def check_report(
    folder: Path, run_files: list[Path], *, pages: int | None = None
) -> dict[str, int]:
    """Open ``folder/index.html`` and every episode page (or the first ``pages``); assert all holds.

    :param folder: the report.
    :param run_files: the JSON files it was written from, in order.
    :param pages: check only this many episode pages (None: all).
    :return: counts of what was checked (``rows``, ``pages``, ``videos``, ``images``).
    """
    documents = [json.loads(Path(path).read_text()) for path in run_files]
    driver = browser()
    checked = {"rows": 0, "pages": 0, "videos": 0, "images": 0}
    try:
        driver.get((folder / "index.html").resolve().as_uri())
        _settle(driver)
        for index, document in enumerate(documents):
            checked["rows"] += _check_tables(driver, index, document)
        _check_sorting(driver)
        checked["images"] += _check_images(driver)
        _check_console(driver, "index.html")
        links = driver.execute_script(
            "return Array.from(document.querySelectorAll('table.episodes a'))"
            ".map(a => a.href).filter(h => !h.includes('#'))"
        )
        assert links, "the episode table links to no episode page"
        for link in links[:pages]:
            driver.get(link)
            _settle(driver)
            checked["videos"] += _check_episode_page(driver, link)
            checked["images"] += _check_images(driver)
            _check_console(driver, link)
            checked["pages"] += 1
    finally:
        driver.quit()
    return checked


def _settle(driver: Any) -> None:
    for _ in range(100):
        if driver.execute_script("return document.readyState") == "complete":
            return
        time.sleep(0.05)
    raise AssertionError(f"{driver.current_url} did not finish loading")


def _check_console(driver: Any, page: str) -> None:
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"{page}: console errors {errors}"


def _cells(driver: Any, selector: str) -> list[list[str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent.trim()))",
        selector,
    )


def _check_tables(driver: Any, index: int, document: dict[str, Any]) -> int:
    """The scenario and episode tables of run ``index`` against its JSON; return the rows checked."""
    scenarios = _cells(driver, f'table.scenarios[data-run="{index}"]')
    episodes = _cells(driver, f'table.episodes[data-run="{index}"]')
    if "scenarios" in document:  # an eval
        expected = [
            (sid, f"{entry['score']:.3f}", "pass" if entry["passed"] else "FAIL")
            for sid, entry in document["scenarios"].items()
        ]
        records = [
            (sid, episode)
            for sid, entry in document["scenarios"].items()
            for episode in entry["episodes"]
        ]
    else:  # a rollout: one scenario, not judged
        sid = document["config"]["scenario"]
        score = sum(e["score"] for e in document["episodes"]) / len(document["episodes"])
        expected = [(sid, f"{score:.3f}", "-")]
        records = [(sid, episode) for episode in document["episodes"]]
    assert [(row[0], row[3], row[2]) for row in scenarios] == expected
    assert [(row[0], row[1], row[3]) for row in episodes] == [
        (sid, str(e["seed"]), f"{e['score']:.3f}") for sid, e in records
    ]
    return len(scenarios) + len(episodes)


def _check_sorting(driver: Any) -> None:
    """A click on the episode table's score header sorts its rows by score, ascending."""
    header = driver.find_element("css selector", "table.episodes th:nth-child(4)")
    header.click()
    scores = [float(row[3]) for row in _cells(driver, 'table.episodes[data-run="0"]')]
    assert scores == sorted(scores), "a click on 'score' did not sort the episodes"


def _check_images(driver: Any) -> int:
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])"
    )
    broken = [src for src, loaded in images if not loaded]
    assert not broken, f"images that did not load: {broken}"
    return len(images)


def _check_episode_page(driver: Any, page: str) -> int:
    """Charts drawn from the page's series; each video plays. Return the videos checked."""
    drawn = driver.execute_script(
        "const d = document.getElementById('episode-data');"
        "return d ? [document.body.dataset.chartsDrawn, document.querySelectorAll('.chart canvas').length,"
        " JSON.parse(d.textContent).speed_mps.length] : null"
    )
    if drawn is not None:
        charts, canvases, steps = drawn
        assert charts == str(CHARTS) and canvases >= CHARTS, f"{page}: charts {drawn}"
        assert steps > 0, f"{page}: an empty series"
    videos = 0
    for _ in range(200):  # up to 10 s for the metadata of every video
        states = driver.execute_script(
            "return Array.from(document.querySelectorAll('video'))"
            ".map(v => [v.readyState, v.duration, v.error ? v.error.code : null])"
        )
        if all(state[0] >= 1 or state[2] is not None for state in states):
            break
        time.sleep(0.05)
    for ready, duration, error in states:
        assert error is None and ready >= 1, f"{page}: the video does not load (error {error})"
        assert duration > 0, f"{page}: the video's duration is {duration}"
        videos += 1
    return videos


if __name__ == "__main__":
    report, *runs = (Path(argument) for argument in sys.argv[1:])
    print(check_report(report, runs))
