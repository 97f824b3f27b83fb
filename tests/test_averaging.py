"""The moving average of the weights (`callbacks.ema_decay`): the arithmetic, frozen weights
left out, and a training run that validates and keeps the average."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from intentbot.train import train
from intentbot.training.averaging import MovingAverage
from tests.conftest import compose_config


class TwoWeights(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.trained = torch.nn.Parameter(torch.zeros(3))
        self.frozen = torch.nn.Parameter(torch.zeros(2), requires_grad=False)


def test_the_average_follows_trained_weights_only_with_a_warming_decay() -> None:
    module, average = TwoWeights(), MovingAverage(0.9)
    average.setup(None, module, "fit")  # type: ignore[arg-type]  # fit's setup reads no trainer
    average._average_model.update_parameters(module)  # the first update copies
    with torch.no_grad():
        module.trained.fill_(11.0)
        module.frozen.fill_(5.0)  # as if something else changed it: the average must not follow
    average._average_model.update_parameters(module)
    kept = min(0.9, (1 + 1) / (10 + 1))  # after one update the decay is still warming up
    averaged = dict(average._average_model.module.named_parameters())
    assert averaged["trained"].tolist() == pytest.approx([11.0 * (1 - kept)] * 3)
    assert averaged["frozen"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_a_decay_outside_zero_to_one_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match=r"callbacks\.ema_decay"):
        MovingAverage(decay)


def test_training_keeps_the_average_it_validated(tmp_path) -> None:
    overrides = ("trainer.max_epochs=3", "export=false", "callbacks.ema_decay=0.95")
    metrics = train(compose_config(*overrides), tmp_path)
    [best] = (tmp_path / "checkpoints").glob("best-*.ckpt")
    saved = torch.load(best, map_location="cpu", weights_only=True)
    averaged, raw = saved["state_dict"], saved["current_model_state"]
    trained = [name for name in averaged if not name.endswith("embedding.weight")]
    assert any(not torch.equal(averaged[name], raw[name]) for name in trained)
    assert metrics["val"]["argmax_accuracy"] > 0.2  # the average is a working model
