"""The network's own files in a bundle: net.json (what to build) and safetensors weights. The
torch side of `intentbot.bundle`, imported only where a network is written or asked for, so that
serving with ONNX Runtime never loads torch. Reading calls `load_state_dict`: nothing is
unpickled."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from intentbot.bundle_format import FORMAT_KEY, FORMAT_VERSION, NET, WEIGHTS, BundleError, read_json
from intentbot.model import IntentNet, NetConfig


def write_network(net: IntentNet, folder: Path) -> None:
    """`net`'s weights and description into `folder`; the description says the bundle format."""
    state = {name: tensor.contiguous() for name, tensor in net.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    description = {FORMAT_KEY: FORMAT_VERSION, **net.config.to_dict()}
    (folder / NET).write_text(json.dumps(description, indent=2))


def read_network(folder: Path) -> IntentNet:
    """The network `write_network` wrote into `folder` (of today's format: `read_bundle`
    upgrades older ones), in eval mode; a missing or damaged file is named."""
    description = read_json(folder / NET)
    description.pop(FORMAT_KEY, None)
    try:
        net = IntentNet(NetConfig.from_dict(description))
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{folder / NET}: not a network description ({error!r})") from None
    try:
        net.load_state_dict(load_file(folder / WEIGHTS))
    except (SafetensorError, OSError) as error:
        raise BundleError(f"{folder / WEIGHTS}: unreadable weights ({error})") from None
    except RuntimeError as error:  # names and shapes differ from what net.json describes
        raise BundleError(
            f"{folder / WEIGHTS}: does not fit the network in {folder / NET} ({error})"
        ) from None
    return net.eval()
