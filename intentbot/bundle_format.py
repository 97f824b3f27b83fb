"""What every reader of a bundle folder shares: the format's version, the network's two files, the
error a bundle that cannot be read raises, and the reader of its JSON files.

Apart from `intentbot.bundle` so that the torch side (`intentbot.weights`) builds on it without
importing the bundle, which imports the torch side on request: imports go one way.
"""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS, NET = "weights.safetensors", "net.json"  # the network: its weights, what to build
# The bundle format written today, under this key of net.json. A change that older code could
# not read raises it, with the upgrade that brings the older files here
# (`intentbot.bundle_upgrades.UPGRADES`); a file or key whose absence reads as before does not.
FORMAT_VERSION, FORMAT_KEY = 5, "format_version"


class BundleError(RuntimeError):
    """A model that cannot be found or read; the message names the tag or file."""


def read_json(path: Path) -> dict:
    """A bundle file holding one JSON object; unreadable or anything else is named."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: unreadable bundle file ({error})") from None
    if not isinstance(record, dict):
        raise BundleError(f"{path}: expected a JSON object, found {type(record).__name__}")
    return record
