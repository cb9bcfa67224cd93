"""``drive doctor``: is this install able to run the stack? One line per check, each saying what is
wrong where something is.

The checks: every requirement of the package installed at a version it accepts; highway-env renders
frames that are not blank; OSQP solves a small problem to its known answer; ffmpeg is there for
videos; each shipped weights or policy file has the sha256 its card records; and a CUDA device, where
torch sees one, runs a matrix product.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from control.dynamics_model import dynamics_files, shipped_plants
from perception.camera import SHIPPED_WEIGHTS
from planning.rl.planner import (
    POLITE_POLICY,
    ROAD_ALL_POLICY,
    ROAD_BOLD_POLICY,
    ROAD_ENGINE_POLICY,
    ROAD_POLICY,
    SHIPPED_POLICY,
)
from sims.provenance import display_path, sha256

PERCEPTION_WEIGHTS = SHIPPED_WEIGHTS.parent
# Each shipped file with the card that records its sha256.
SHIPPED_FILES: dict[str, tuple[Path, Path]] = {
    **{
        f"perception weights {name}": (
            PERCEPTION_WEIGHTS / name / "best.safetensors",
            PERCEPTION_WEIGHTS / name / "card.json",
        )
        for name in ("stn-cnn", "stn-cnn-highway", "detector", "cgan", "dcgan")
    },
    "policy default": (SHIPPED_POLICY / "policy.zip", SHIPPED_POLICY / "policy.json"),
    "policy polite": (POLITE_POLICY / "policy.zip", POLITE_POLICY / "policy.json"),
    "policy road": (ROAD_POLICY / "policy.zip", ROAD_POLICY / "policy.json"),
    "policy road-engine": (ROAD_ENGINE_POLICY / "policy.zip", ROAD_ENGINE_POLICY / "policy.json"),
    "policy road-bold": (ROAD_BOLD_POLICY / "policy.zip", ROAD_BOLD_POLICY / "policy.json"),
    "policy road-all": (ROAD_ALL_POLICY / "policy.zip", ROAD_ALL_POLICY / "policy.json"),
    **{f"dynamics model {plant}": dynamics_files(plant) for plant in shipped_plants()},
}


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its name, whether it passed, and one line of detail."""

    name: str
    passed: bool
    detail: str


def check_requirements() -> Check:
    """Every requirement of ``drive-stack`` (not its extras) is installed at an accepted version."""
    from packaging.requirements import Requirement

    problems, count = [], 0
    for line in metadata.requires("drive-stack") or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        count += 1
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed (needs {requirement.specifier})")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name} {version} is not {requirement.specifier}")
    if problems:
        return Check("packages", False, "; ".join(problems))
    torch_version = metadata.version("torch")
    highway = metadata.version("highway-env")
    return Check(
        "packages", True, f"{count} requirements met (torch {torch_version}, highway-env {highway})"
    )


def check_rendering() -> Check:
    """highway-env draws a frame headless (``render_mode="rgb_array"``) that is not one colour."""
    import numpy as np

    from sims.environments import ENVIRONMENTS

    env = ENVIRONMENTS["highway-v0"](render_mode="rgb_array")
    try:
        env.reset(seed=0)
        frame = np.asarray(env.render())
    finally:
        env.close()
    if frame.ndim != 3 or frame.size == 0:
        return Check("rendering", False, f"highway-env rendered an array of shape {frame.shape}")
    colours = len(np.unique(frame.reshape(-1, frame.shape[-1]), axis=0))
    if colours < 3:
        return Check(
            "rendering",
            False,
            f"the {frame.shape[1]}x{frame.shape[0]} frame is blank ({colours} colour(s))",
        )
    return Check(
        "rendering",
        True,
        f"highway-v0 frame {frame.shape[1]}x{frame.shape[0]} px, {colours} colours",
    )


def check_osqp() -> Check:
    """OSQP solves min x0^2 + x1^2 subject to x0 + x1 = 1 to x = (0.5, 0.5)."""
    import numpy as np
    import osqp
    from scipy import sparse

    solver = osqp.OSQP()
    solver.setup(
        sparse.csc_matrix(2 * np.eye(2)),
        np.zeros(2),
        sparse.csc_matrix(np.ones((1, 2))),
        np.ones(1),
        np.ones(1),
        verbose=False,
        eps_abs=1e-9,
        eps_rel=1e-9,
    )
    result = solver.solve(raise_error=False)
    x = np.asarray(result.x)
    solved = result.info.status_val == osqp.SolverStatus.OSQP_SOLVED
    if not solved or not np.allclose(x, 0.5, atol=1e-5):
        return Check(
            "osqp", False, f"status {result.info.status!r}, x = {x.tolist()} (expected 0.5, 0.5)"
        )
    return Check("osqp", True, f"OSQP {metadata.version('osqp')} solved a test problem")


def check_ffmpeg() -> Check:
    """imageio-ffmpeg finds an ffmpeg for the videos."""
    import imageio_ffmpeg

    try:
        executable = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as error:
        return Check("ffmpeg", False, str(error).splitlines()[0])
    return Check("ffmpeg", True, executable)


def check_shipped_file(name: str, file: Path, card: Path) -> Check:
    """``file`` has the sha256 ``card`` records for it."""
    if not file.is_file() or not card.is_file():
        missing = file if not file.is_file() else card
        return Check(name, False, f"{display_path(missing)} is missing")
    try:
        recorded = json.loads(card.read_text()).get("sha256")
    except (ValueError, AttributeError, OSError) as error:
        return Check(name, False, f"{display_path(card)} is not a readable card ({error})")
    if not recorded:
        return Check(name, False, f"{display_path(card)} records no sha256 for {file.name}")
    actual = sha256(file)
    if actual != recorded:
        return Check(
            name,
            False,
            f"{display_path(file)} has sha256 {actual[:16]}..., its card records {recorded[:16]}...: "
            "the file is damaged or not the one the card describes",
        )
    return Check(name, True, f"{display_path(file)} sha256 {actual[:16]}... as its card records")


def check_cuda() -> Check:
    """Where torch sees a CUDA device, a matrix product on it agrees with the CPU's."""
    import torch

    if not torch.cuda.is_available():
        return Check("cuda", True, "no CUDA device: everything runs on the CPU")
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(64, 64, generator=generator)
    on_device = (a.cuda() @ a.cuda()).cpu()
    error = float((on_device - a @ a).abs().max())
    if not math.isfinite(error) or error > 1e-2:
        return Check("cuda", False, f"{torch.cuda.get_device_name(0)}: matmul differs by {error}")
    return Check("cuda", True, f"{torch.cuda.get_device_name(0)}, torch CUDA {torch.version.cuda}")


def run_checks(on_check: Callable[[Check], None] | None = None) -> list[Check]:
    """Run every check; a check that raises counts as failed, with its error as the detail."""
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("packages", check_requirements),
        ("rendering", check_rendering),
        ("osqp", check_osqp),
        ("ffmpeg", check_ffmpeg),
        *(
            (name, lambda name=name, pair=pair: check_shipped_file(name, *pair))
            for name, pair in SHIPPED_FILES.items()
        ),
        ("cuda", check_cuda),
    ]
    results = []
    for name, check in checks:
        try:
            result = check()
        except Exception as error:  # noqa: BLE001 - a broken install can fail in any way; say how
            result = Check(name, False, " ".join(f"{type(error).__name__}: {error}".split())[:300])
        results.append(result)
        if on_check is not None:
            on_check(result)
    return results
