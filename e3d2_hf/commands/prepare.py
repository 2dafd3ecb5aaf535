"""build a clip dataset (joints + music features) and save it with save_to_disk

Read a source dataset, extract 438-d music features at 60 and 7.5 FPS, and save one row per
sequence. The output folder appears only when everything succeeded.
"""

from __future__ import annotations

from pathlib import Path

from ..data.prepare import PrepareConfig as Arguments
from ..data.prepare import prepare
from ..utils.outputs import PREPARE_INFO


def run(args: Arguments) -> int:
    out = prepare(args)
    print((Path(out) / PREPARE_INFO).read_text())
    return 0
