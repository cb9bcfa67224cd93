"""The machine line that timing figures carry."""

from __future__ import annotations

import os

from sims.machine import machine_description


def test_the_cpu_line_counts_the_cores_and_says_there_is_no_gpu() -> None:
    line = machine_description("cpu")
    assert f", {os.cpu_count()} CPUs, no GPU" in line
    assert line == machine_description()
