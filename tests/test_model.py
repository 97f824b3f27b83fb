"""IntentNet and RecurrentEncoder: every kind and pooling, padding, config round trip."""

from __future__ import annotations

import pytest
import torch

from intentbot.encoder import POOLINGS, EncoderConfig, RecurrentEncoder
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


def test_a_top_layer_needs_layers_below_it():
    with pytest.raises(ValueError, match="num_layers=2 or more"):
        EncoderConfig(num_layers=1, top_hidden_size=64)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_a_narrower_top_layer_sets_the_outputs_width(pooling):
    """The layers below keep `hidden_size`; the top layer's width is what the heads read."""
    config = EncoderConfig(
        embedding_dim=4, hidden_size=6, num_layers=3, top_hidden_size=3, pooling=pooling
    )
    encoder = RecurrentEncoder(config, extra_inputs=2)
    assert [(rnn.hidden_size, layer) for rnn, layer in encoder.recurrences()] == [
        (6, 0),
        (6, 1),
        (3, 0),
    ]
    pooled, tokens = encoder.encode(torch.randn(2, 5, 6), torch.tensor([5, 2]))
    assert pooled.shape == (2, 6) and tokens.shape == (2, 5, 6)
    assert config.output_size == 6
    assert tokens[1, 2:].abs().sum() == 0  # padding stays out of the top layer too


def test_encoder_output_size_matches_directions():
    encoder = RecurrentEncoder(EncoderConfig(embedding_dim=4, hidden_size=3, bidirectional=True))
    out = encoder(torch.randn(2, 5, 4), torch.tensor([5, 1]))
    assert out.shape == (2, 6)


def tagging_net(num_tags: int) -> IntentNet:
    torch.manual_seed(0)
    encoder = EncoderConfig(embedding_dim=8, hidden_size=6, kind="lstm", pooling="attention")
    config = NetConfig(
        50, 4, encoder=encoder, head=HeadConfig(hidden_sizes=(5,)), num_tags=num_tags
    )
    return IntentNet(config).eval()


IDS, LENGTHS = torch.tensor([[2, 7, 9, 0, 0], [2, 5, 11, 13, 0]]), torch.tensor([3, 4])


def test_an_intent_only_net_is_the_one_from_before_tagging():
    """Parameters, names and logits recorded with the code before the tagging head existed."""
    model = tagging_net(num_tags=0)
    assert sum(parameter.numel() for parameter in model.parameters()) == 1270
    assert not any("tag" in name for name in model.state_dict())
    expected = torch.tensor(
        [[0.0407582, 0.4757670, 0.3483989, 0.4083727], [0.0303854, 0.4922976, 0.3480410, 0.4063603]]
    )
    with torch.no_grad():
        torch.testing.assert_close(model(IDS[:, :4], LENGTHS), expected)
        intents, tags = model.outputs(IDS, LENGTHS)
    torch.testing.assert_close(intents, expected)
    assert tags is None


def test_a_tagging_head_adds_one_linear_and_leaves_the_intents_alone():
    plain, tagging = tagging_net(num_tags=0), tagging_net(num_tags=5)
    added = sum(p.numel() for p in tagging.parameters()) - sum(
        p.numel() for p in plain.parameters()
    )
    assert added == 12 * 5 + 5  # (H * directions) x K weights and K biases
    with torch.no_grad():
        intents, tags = tagging.outputs(IDS, LENGTHS)
        torch.testing.assert_close(intents, plain(IDS, LENGTHS))
        torch.testing.assert_close(tagging(IDS, LENGTHS), intents)
    assert tags.shape == (2, 5, 5)  # every position of the ids, padding beyond the longest too


def test_a_net_json_written_before_tagging_still_loads():
    record = tagging_net(num_tags=0).config.to_dict()
    del record["num_tags"]
    assert NetConfig.from_dict(record).num_tags == 0


def test_a_projection_narrows_what_the_first_layer_reads():
    """The embedding table keeps its width; the first layer reads the projection's width, then
    the known-name columns; without a projection nothing changes."""
    config = NetConfig(
        vocab_size=50,
        num_classes=4,
        encoder=EncoderConfig(embedding_dim=8, hidden_size=6),
        gazetteer_width=2,
        embedding_projection=3,
    )
    model = IntentNet(config).eval()
    assert model.embedding.weight.shape == (50, 8)
    assert model.projection.weight.shape == (3, 8)
    assert model.encoder.rnn.input_size == 3 + 2
    assert IntentNet(NetConfig.from_dict(config.to_dict())).projection.weight.shape == (3, 8)
    assert net().projection is None and "projection.weight" not in net().state_dict()
    with torch.no_grad():
        assert model(IDS, LENGTHS, torch.zeros(2, 5, 2)).shape == (2, 4)
