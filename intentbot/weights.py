"""The network's own files in a bundle: net.json (what to build) and safetensors weights. The
torch side of `intentbot.bundle`, imported only where a network is written or asked for, so that
serving with ONNX Runtime never loads torch. Reading calls `load_state_dict`: nothing is
unpickled."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from intentbot.bundle_format import NET, WEIGHTS, BundleError, read_json
from intentbot.model import IntentNet, NetConfig


def write_network(net: IntentNet, folder: Path) -> None:
    """`net`'s weights and description into `folder`."""
    state = {name: tensor.contiguous() for name, tensor in net.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    (folder / NET).write_text(json.dumps(net.config.to_dict(), indent=2))


def read_network(folder: Path) -> IntentNet:
    """The network `write_network` wrote into `folder`, in eval mode; a missing or damaged file
    is named."""
    try:
        net = IntentNet(NetConfig.from_dict(read_json(folder / NET)))
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{folder / NET}: not a network description ({error!r})") from None
    try:
        net.load_state_dict(_name_projection_folded(load_file(folder / WEIGHTS)))
    except (SafetensorError, OSError) as error:
        raise BundleError(f"{folder / WEIGHTS}: unreadable weights ({error})") from None
    except RuntimeError as error:  # names and shapes differ from what net.json describes
        raise BundleError(
            f"{folder / WEIGHTS}: does not fit the network in {folder / NET} ({error})"
        ) from None
    return net.eval()


def _name_projection_folded(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights written when known-name features were projected (`gazetteer.weight`, (E, G)) and
    added to the embeddings, as the same network reading them beside the embeddings: the first
    layer's input term W_ih (e + P m) is W_ih e + (W_ih P) m, so W_ih gains the columns W_ih P.
    Other weights come back as they are."""
    projection = state.get("gazetteer.weight")
    if projection is None:
        return state
    folded = {name: tensor for name, tensor in state.items() if name != "gazetteer.weight"}
    for suffix in ("l0", "l0_reverse"):
        name = f"encoder.rnn.weight_ih_{suffix}"
        if name in folded:
            folded[name] = torch.cat([folded[name], folded[name] @ projection], dim=1)
    return folded
