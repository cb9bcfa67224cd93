"""Shared fixtures (small scenarios, one vision dataset) and the test tiers.

Every test carries exactly one tier marker, by what it costs (see ``TIERS`` and
``pytest_collection_modifyitems`` below): an explicit marker on the test or its module wins,
otherwise its location and name decide.
"""

from __future__ import annotations

import os
import tempfile

# One thread per test process, set before torch is imported (here, or in the subprocesses the
# smoke tests start, which inherit it): `pytest -n 2` on 2 cores runs two processes already, and two
# threads each made every small torch operation wait on a busy core (a 200-step QR-DQN training
# run took 117 s instead of 25 s on the 2-core machine).
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
# SDL under pygame's offscreen rendering warns on stderr without a runtime dir; give it one.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="drive-xdg-"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from drive.runs.frame_dataset import generate  # noqa: E402
from sims.dataset import DatasetConfig  # noqa: E402
from tests.helpers import VISION_FRAMES  # noqa: E402

if os.environ["OMP_NUM_THREADS"].isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# The tiers (pyproject.toml registers them).
TIERS = ("unit", "contract", "smoke", "scenarios", "slow")

# Tests outside their file's default tier, by file and name (a name matches the test function's
# own name, its parameters left out). A file listed with ``None`` is that tier throughout.
# Everything not listed, outside tests/scenarios/, is a unit test.
SMOKE = {
    # each command as a user types it, on a tiny budget
    "tests/test_cli.py": None,
    "tests/drive/test_train.py": (
        "test_resume_continues_where_the_run_stopped",
        "test_ctrl_c_stops_between_steps_and_saves_the_last_checkpoint",
    ),
    "tests/drive/test_vision_commands.py": (
        "test_bench_vision_writes_every_figure_with_its_device",
        "test_synthesize_keeps_the_labels_and_replaces_the_frames",
    ),
    "tests/drive/test_comparison.py": (
        "test_compare_command_plots_the_committed_results",
        "test_compare_command_pools_the_committed_seeds_used_for_no_choice",
    ),
    "tests/perception/test_detector.py": (
        "test_a_tiny_training_run_lowers_the_loss_keeps_the_best_and_resumes",
        "test_train_detector_and_detect_commands",
    ),
    "tests/perception/test_gan.py": ("test_train_gan_command_runs_on_a_tiny_budget",),
    "tests/perception/test_cnn.py": (
        "test_a_tiny_training_run_lowers_the_loss_and_keeps_the_best_weights",
    ),
    # whole closed-loop episodes and dataset generation, end to end
    "tests/drive/test_loop.py": None,
    "tests/sims/test_dataset.py": (
        "test_generation_writes_shards_resumes_and_refuses_other_settings",
    ),
    "tests/drive/test_dynamics.py": ("test_log_the_lagged_car_fit_it_keep_the_best_and_resume",),
}
CONTRACT = {
    # one behaviour over every registered perceiver, planner and controller
    "tests/test_contracts.py": None,
    # one training behaviour over every algorithm (SB3's way)
    "tests/drive/test_train.py": (
        "test_training_saves_a_policy_that_reloads_and_plans",
        "test_training_on_the_batched_engine_validates_there_and_resumes",
    ),
}
SCENARIOS = {
    "tests/scenarios/": None,
    # the per-road perception bench end to end (about 10 s: kept out of the quick tier)
    "tests/drive/test_bench_perception_roads.py": (
        "test_bench_perception_over_roads_writes_one_row_per_road_and_every_variation",
    ),
    # the video layers, drawn over two recorded episodes
    "tests/drive/test_loop.py": ("test_video_layers_draw_the_plan_prediction_and_boxes",),
    # a tiny suite's `drive eval --report`, opened in headless Chromium
    "tests/drive/test_report_browser.py": None,
    # the MPC's manoeuvres in closed loop on highway-env, judged by their bounds
    "tests/control/test_mpc.py": (
        "test_lane_keeping_at_30_mps",
        "test_lane_change_is_precise_and_comfortable",
        "test_speed_step_and_stop",
        "test_tracks_better_than_highway_env_builtin",
        "test_smoother_than_highway_env_builtin",
    ),
    # mpc-learned against mpc on the lagged car, in closed loop
    "tests/control/test_mpc_learned.py": (
        "test_on_the_lagged_car_it_halves_the_mpcs_error_within_comfort",
    ),
}


def _listed(table: dict[str, tuple[str, ...] | None], path: str, name: str) -> bool:
    for prefix, names in table.items():
        if path.startswith(prefix) and (names is None or name in names):
            return True
    return False


def default_tier(path: str, name: str) -> str:
    """The tier of test ``name`` in ``path`` (relative to the repository, with '/') by the tables."""
    for tier, table in (("scenarios", SCENARIOS), ("smoke", SMOKE), ("contract", CONTRACT)):
        if _listed(table, path, name):
            return tier
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(config.rootpath)
    for item in items:
        explicit = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if len(explicit) > 1:
            raise pytest.UsageError(f"{item.nodeid}: more than one tier marker {sorted(explicit)}")
        if explicit:
            continue
        path = Path(item.path).resolve().relative_to(root).as_posix()
        name = getattr(item, "originalname", item.name)
        item.add_marker(default_tier(path, name))


# What a test of each tier costs, roughly, in seconds on the 2-core machine (slow: minutes).
TIER_COST = {"unit": 0.2, "contract": 1.0, "smoke": 20.0, "scenarios": 10.0, "slow": 120.0}


class CostlyFilesFirst:
    """Run the costliest files first, each file's tests together and in their order. With
    ``--dist worksteal`` (pyproject.toml) a worker that runs out of tests takes the cheap ones
    left at the end of the other's queue, so both finish at about the same time."""

    @pytest.hookimpl(trylast=True)  # after the tiers are given and `-m` has deselected
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        cost: dict[Path, float] = {}
        for item in items:
            tier = next(mark.name for mark in item.iter_markers() if mark.name in TIERS)
            cost[item.path] = cost.get(item.path, 0.0) + TIER_COST[tier]
        first = {path: index for index, path in enumerate(dict.fromkeys(i.path for i in items))}
        items.sort(key=lambda item: (-cost[item.path], first[item.path]))


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(CostlyFilesFirst(), "costly-files-first")


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario TOML into a temporary folder and return its path."""

    def write(text: str, name: str = "custom.toml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def vision_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short episode of small frames with scene records, generated once per test process
    and shared read-only by the detector, GAN and vision-command tests."""
    folder = tmp_path_factory.mktemp("vision") / "data"
    config = DatasetConfig(
        scenario="lead-brake-close", episodes=1, sample_every_steps=15, frames=VISION_FRAMES
    )
    generate(config, folder)
    return folder
