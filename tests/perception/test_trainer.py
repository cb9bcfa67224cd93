"""The order of work of :class:`perception.trainer.EpochTrainer`, on a one-weight fake run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from perception.trainer import EpochTrainer
from sims.strict import ConfigError

pytestmark = pytest.mark.unit


class OneWeight(EpochTrainer):
    """Fits one weight to 1 by SGD with momentum (so a resumed run needs the optimiser's state),
    with a random nudge per batch from torch's generator (so it needs the random state too).

    :param interrupt_at: the epoch index whose training raises KeyboardInterrupt.
    :param best: the epochs (from 1) whose weights are the best so far.
    :param unsaveable_at: the epoch index whose resumable state cannot be saved.
    """

    def __init__(
        self,
        out: Path,
        *,
        epochs: int = 3,
        resume: bool = False,
        interrupt_at: int | None = None,
        best: Sequence[int] = (1, 2, 3),
        unsaveable_at: int | None = None,
        on_epoch: Any = None,
    ) -> None:
        super().__init__(out, resume=resume, device="cpu", on_epoch=on_epoch)
        self.epochs, self.interrupt_at, self.best = epochs, interrupt_at, best
        self.unsaveable_at = unsaveable_at
        self.started = False
        self.epoch = -1

    def start(self) -> None:
        torch.manual_seed(0)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.optimiser = torch.optim.SGD([self.weight], lr=0.1, momentum=0.9)
        self.started = True

    def finished(self, history: Sequence[dict[str, Any]]) -> bool:
        return len(history) >= self.epochs

    def train_epoch(self, epoch: int, history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        self.epoch = epoch
        if epoch == self.interrupt_at:
            raise KeyboardInterrupt
        for _ in range(4):
            loss = ((self.weight - 1 + 0.01 * torch.randn(1)) ** 2).sum()
            self.optimiser.zero_grad()
            loss.backward()
            self.optimiser.step()
        return {"train_loss": float(loss.detach())}

    def validate(self, epoch: int) -> dict[str, Any]:
        return {"weight": float(self.weight.detach())}

    def is_best(self, record: dict[str, Any], history: Sequence[dict[str, Any]]) -> bool:
        return record["epoch"] in self.best

    def card(self, record: dict[str, Any], history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"epochs_run": len(history), **record}

    def write_best_weights(self, path: Path) -> None:
        save_file({"weight": self.weight.detach().clone()}, path)

    def resumable_state(self) -> dict[str, Any]:
        state = {
            "weight": self.weight.detach().clone(),
            "optimiser": self.optimiser.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.epoch == self.unsaveable_at:
            state["unsaveable"] = lambda: None  # torch.save cannot pickle it
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.weight.copy_(state["weight"])
        self.optimiser.load_state_dict(state["optimiser"])
        torch.set_rng_state(state["torch_rng"])


def _without_wall(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in r.items() if key != "wall_s"} for r in history]


def test_records_hold_the_epoch_its_figures_and_the_wall_time_in_order(tmp_path):
    seen: list[dict[str, Any]] = []
    history = OneWeight(tmp_path / "run", on_epoch=seen.append).run()
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert all(list(r) == ["epoch", "train_loss", "weight", "wall_s"] for r in history)
    assert seen == history
    assert len({r["weight"] for r in history}) == 3  # it trains


def test_a_used_out_is_refused_without_resume_before_anything_is_built(tmp_path):
    OneWeight(tmp_path / "run").run()
    again = OneWeight(tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a run; pass --resume or choose another"):
        again.run()
    assert not again.started


def test_resuming_nothing_is_refused(tmp_path):
    trainer = OneWeight(tmp_path / "run", resume=True)
    with pytest.raises(ConfigError, match=r"run: nothing to resume \(no last.pt\)"):
        trainer.run()
    assert not trainer.started and not (tmp_path / "run").exists()


def test_an_interrupted_run_resumes_at_the_next_epoch_exactly(tmp_path):
    whole = OneWeight(tmp_path / "whole").run()
    with pytest.raises(KeyboardInterrupt):
        OneWeight(tmp_path / "part", interrupt_at=1).run()  # in the second epoch
    state = torch.load(tmp_path / "part" / "last.pt", weights_only=True)
    assert [r["epoch"] for r in state["history"]] == [1]
    resumed = OneWeight(tmp_path / "part", resume=True).run()
    assert _without_wall(resumed) == _without_wall(whole)
    for name in ("best.safetensors", "last.pt"):
        assert (tmp_path / "part" / name).read_bytes() != b""
    assert torch.equal(
        load_file(tmp_path / "part" / "best.safetensors")["weight"],
        load_file(tmp_path / "whole" / "best.safetensors")["weight"],
    )


def test_a_finished_run_resumed_runs_no_more_epochs(tmp_path):
    first = OneWeight(tmp_path / "run", epochs=2).run()
    assert _without_wall(OneWeight(tmp_path / "run", epochs=2, resume=True).run()) == (
        _without_wall(first)
    )
    longer = OneWeight(tmp_path / "run", epochs=3, resume=True).run()
    assert [r["epoch"] for r in longer] == [1, 2, 3]


def test_best_weights_and_card_are_written_only_for_the_best_epochs(tmp_path):
    out = tmp_path / "run"
    kept: list[tuple[int, bool, bool]] = []

    def look(record: dict[str, Any]) -> None:
        kept.append(
            (record["epoch"], (out / "best.safetensors").exists(), (out / "card.json").exists())
        )

    history = OneWeight(out, best=(2,), on_epoch=look).run()
    assert kept == [(1, False, False), (2, True, True), (3, True, True)]
    card = (out / "card.json").read_text()
    assert '"epoch": 2' in card and '"epochs_run": 2' in card
    weight = load_file(out / "best.safetensors")["weight"]
    assert float(weight) == pytest.approx(history[1]["weight"])
    assert float(weight) != pytest.approx(history[2]["weight"])


def test_last_pt_is_written_atomically_and_no_temporary_file_is_left(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Exception, match="lambda|pickle"):
        OneWeight(out, unsaveable_at=1).run()  # saving the second epoch's state fails
    state = torch.load(out / "last.pt", weights_only=True)
    assert [r["epoch"] for r in state["history"]] == [1]  # the first epoch's, whole
    assert sorted(path.name for path in out.iterdir()) == [
        "best.safetensors",
        "card.json",
        "last.pt",
    ]


class Logged(OneWeight):
    TENSORBOARD_TAG = "fake"

    def global_step(self, epoch: int) -> int:
        return 10 * (epoch + 1)


def test_tensorboard_is_written_only_with_a_tag(tmp_path):
    OneWeight(tmp_path / "plain").run()
    assert not (tmp_path / "plain" / "tensorboard").exists()
    Logged(tmp_path / "logged", epochs=1).run()
    events = list((tmp_path / "logged" / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and b"fake/weight" in events[0].read_bytes()
