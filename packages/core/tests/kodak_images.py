"""Kodak images from the data mirror ($JSCC_DATA_MIRROR/kodak), for tests on natural images."""
import os
from pathlib import Path

import numpy as np
import pytest


def kodak(index: int) -> np.ndarray:
    """Kodak image ``index`` as uint8 (H, W, 3); the test is skipped if the mirror lacks it."""
    mirror = os.environ.get("JSCC_DATA_MIRROR")
    if not mirror:
        pytest.skip("JSCC_DATA_MIRROR is not set: no Kodak images")
    path = Path(mirror) / "kodak" / f"kodim{index:02d}.png"
    if not path.is_file():
        pytest.skip(f"Kodak image not in the data mirror: {path}")
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def kodak_crop(index: int, top: int, left: int, size: int = 128) -> np.ndarray:
    """A size x size crop of Kodak image ``index`` at (top, left)."""
    return np.ascontiguousarray(kodak(index)[top:top + size, left:left + size])
