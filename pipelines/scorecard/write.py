"""Writing the scorecard: the HTML page, its Markdown beside it and the thumbnails, each file
replaced whole."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from jscc_core.profiles import Profile
from jscc_core.results import atomic_write_bytes
from pipelines.scorecard.collect import collect
from pipelines.scorecard.html import render_html
from pipelines.scorecard.markdown import render_markdown
from pipelines.scorecard.model import Scorecard
from pipelines.scorecard.thumbs import add_thumbnails
from pipelines.stage import Stage


def write_scorecard(stages: Iterable[Stage], profile: Profile, out: str | os.PathLike, root: str | os.PathLike, *,
                    profile_ref: str | None = None, titles: Mapping[str, str] | None = None) -> Scorecard:
    """Build the scorecard and write ``out`` (HTML), the Markdown beside it (``.md``) and the
    thumbnails in ``thumbs/`` beside it.

    ``stages``: the stage list; ``profile``: the current profile; ``out``: the HTML file to write;
    ``root``: the folder stage paths are relative to; ``profile_ref``, ``titles``: see
    :func:`pipelines.scorecard.collect.collect`.
    """
    out, root = Path(out).absolute(), Path(root).resolve()
    card = collect(stages, profile, root, profile_ref=profile_ref, titles=titles)
    add_thumbnails(card, root, out.parent / "thumbs")
    page = render_html(card, out, root).encode("utf-8")
    text = render_markdown(card, out, root).encode("utf-8")
    atomic_write_bytes(out, page)
    atomic_write_bytes(out.with_suffix(".md"), text)
    return card
