"""First-page thumbnails of the figures' PDFs (PNG, rendered with pypdfium2)."""
from __future__ import annotations

import io
import os
from pathlib import Path

from jscc_core.results import atomic_write_bytes
from pipelines.scorecard.model import NOT_RUN, UNREADABLE, Scorecard
from pipelines.scorecard.status import unreadable_reason

THUMB_WIDTH = 640  # pixels of a thumbnail's width (shown at half that, sharp on high-density screens)


def render_thumbnail(pdf: str | os.PathLike, png: str | os.PathLike, width: int = THUMB_WIDTH) -> tuple[int, int]:
    """Render the first page of the PDF file ``pdf`` to the PNG file ``png``, ``width`` pixels
    wide; returns (width, height) of the image.  Raises ``ImportError`` without pypdfium2,
    ``ValueError`` for a PDF that cannot be rendered."""
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(pdf))
    except pdfium.PdfiumError as exc:
        raise ValueError(f"not a readable PDF ({exc})") from exc
    try:
        if len(doc) == 0:
            raise ValueError("the PDF has no page")
        page = doc[0]
        page_width, _ = page.get_size()
        bitmap = page.render(scale=width / page_width)
        image = bitmap.to_pil().convert("RGB")
        bitmap.close()
        page.close()
    finally:
        doc.close()
    data = io.BytesIO()
    image.save(data, format="PNG", optimize=True)
    atomic_write_bytes(Path(png), data.getvalue())
    return image.size


def add_thumbnails(card: Scorecard, root: Path, thumbs: Path) -> None:
    """Render a thumbnail into the folder ``thumbs`` for every figure of ``card`` whose PDF exists
    (paths relative to ``root``) and note it on the figure; a PDF that cannot be rendered makes a
    figure that has run unreadable."""
    for paper in card.papers:
        for fig in paper.figures:
            if "pdf" not in fig.present:
                continue
            png = thumbs / f"{fig.paper}-{fig.figure}.png"
            try:
                fig.thumb_size = render_thumbnail(root / fig.files["pdf"], png)
                fig.thumb = png.as_posix()
            except ImportError:
                fig.errors["thumb"] = "no thumbnail: pypdfium2 is not installed"
            except Exception as exc:  # a PDF that cannot be rendered is reported on the page
                fig.errors["thumb"] = unreadable_reason(exc, root, fig.files["pdf"])
                if fig.status != NOT_RUN:
                    fig.errors["pdf"] = fig.errors["thumb"]
                    fig.status = UNREADABLE
