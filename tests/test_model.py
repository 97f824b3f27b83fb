"""IntentNet and RecurrentEncoder: every kind and pooling, padding, config round trip."""

from __future__ import annotations

import pytest
import torch

from intentbot.encoder import EncoderConfig, RecurrentEncoder
from intentbot.model import HeadConfig, IntentNet, NetConfig


def net(**encoder: object) -> IntentNet:
    torch.manual_seed(0)
    config = NetConfig(
        vocab_size=50,
        num_classes=4,
        encoder=EncoderConfig(embedding_dim=8, hidden_size=6, **encoder),
        head=HeadConfig(hidden_sizes=(5,)),
    )
    return IntentNet(config).eval()


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_the_answer(kind, pooling, bidirectional):
    model = net(kind=kind, pooling=pooling, bidirectional=bidirectional, num_layers=2, dropout=0.1)
    short = torch.tensor([[2, 7, 9]])
    padded = torch.tensor([[2, 7, 9, 0, 0, 0], [2, 5, 0, 0, 0, 0]])
    alone = model(short, torch.tensor([3]))
    batched = model(padded, torch.tensor([3, 2]))
    assert batched.shape == (2, 4)
    torch.testing.assert_close(alone[0], batched[0])


def test_vanilla_rnn_takes_its_nonlinearity():
    assert net(kind="rnn", nonlinearity="relu").encoder.rnn.nonlinearity == "relu"


def test_word_dropout_replaces_words_only_in_training():
    config = NetConfig(
        vocab_size=50,
        num_classes=4,
        word_dropout=1.0,
        embedding_dropout=0.0,
        encoder=EncoderConfig(embedding_dim=8, hidden_size=6),
        head=HeadConfig(hidden_sizes=(5,), dropout=0.0),
    )
    model, lengths = IntentNet(config), torch.tensor([3])
    first, second = torch.tensor([[2, 7, 9]]), torch.tensor([[2, 11, 13]])
    model.train()
    torch.testing.assert_close(model(first, lengths), model(second, lengths))  # all [UNK] now
    model.eval()
    assert not torch.allclose(model(first, lengths), model(second, lengths))


def test_config_round_trips_through_plain_dicts():
    config = net(kind="lstm", pooling="attention").config
    assert NetConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "transformer", "not one of"),
        ("pooling", "sum", "not one of"),
        ("nonlinearity", "sigmoid", "use tanh or relu"),
    ],
)
def test_bad_encoder_settings_say_what_is_allowed(field, value, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig(**{field: value})


def test_encoder_output_size_matches_directions():
    encoder = RecurrentEncoder(EncoderConfig(embedding_dim=4, hidden_size=3, bidirectional=True))
    out = encoder(torch.randn(2, 5, 4), torch.tensor([5, 1]))
    assert out.shape == (2, 6)
