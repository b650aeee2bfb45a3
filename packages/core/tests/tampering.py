"""Edits a user might make to a data file by accident, for the tests that data is checked where it is read."""
import hashlib
import os
from pathlib import Path

import numpy as np


def sha256(path: Path) -> str:
    """The sha256 hex digest of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def paint_box(path: Path, box: tuple[slice, slice] = (slice(40, 120), slice(60, 200))) -> None:
    """Paint a white ``box`` (rows, columns) into the image at ``path``; it stays a valid PNG, of
    the same size class, and its mtime is put back, so only the content tells the edit."""
    from PIL import Image

    st = path.stat()
    with Image.open(path) as im:
        arr = np.array(im.convert("RGB"))
    arr[box] = 255
    Image.fromarray(arr).save(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
