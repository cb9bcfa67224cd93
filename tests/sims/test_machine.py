"""The machine line that timing figures and training cards carry."""

from __future__ import annotations

import os

import pytest
import torch

from sims.machine import machine_description


def test_the_line_counts_the_cores_and_names_the_gpu_when_there_is_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert machine_description().endswith(f", {os.cpu_count()} CPUs, no GPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "NVIDIA H100 80GB HBM3")
    assert machine_description().endswith(f", {os.cpu_count()} CPUs, NVIDIA H100 80GB HBM3")
