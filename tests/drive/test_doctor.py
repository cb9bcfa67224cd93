"""``drive doctor``: all green on this install; a damaged shipped weights file is named."""

from __future__ import annotations

import shutil

from drive import doctor
from tests.helpers import drive_in_process


def test_doctor_is_all_green_on_this_install():
    result = drive_in_process("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert (
        len(lines) == 1 + len(doctor.SHIPPED_FILES) + 5
    )  # packages, rendering, osqp, ffmpeg, cuda
    assert all(line.startswith("ok ") for line in lines[:-1]), result.stdout
    assert lines[-1] == f"All {len(lines) - 1} checks passed."


def test_doctor_names_a_damaged_weights_file(tmp_path, monkeypatch):
    source, card = doctor.SHIPPED_FILES["perception weights stn-cnn-highway"]
    damaged = tmp_path / "best.safetensors"
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of a tensor
    damaged.write_bytes(bytes(data))
    shutil.copy(card, tmp_path / "card.json")
    monkeypatch.setitem(
        doctor.SHIPPED_FILES,
        "perception weights stn-cnn-highway",
        (damaged, tmp_path / "card.json"),
    )
    result = drive_in_process("doctor")
    assert result.returncode == 1
    [failed] = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert failed.startswith(f"FAIL perception weights stn-cnn-highway: {damaged} has sha256 ")
    assert "its card records 733e2ab117637b51" in failed
    checks = len(doctor.SHIPPED_FILES) + 5  # packages, rendering, osqp, ffmpeg, cuda
    assert (
        result.stderr.strip() == f"1 of {checks} checks failed: perception weights stn-cnn-highway"
    )
