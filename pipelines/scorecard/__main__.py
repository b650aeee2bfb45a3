"""``python -m pipelines.scorecard --profile P --out reports/index.html``: write the scorecard for
the profile P; exit 0, or 2 when the profile cannot be read."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from jscc_core.profiles import ProfileError
from pipelines import scorecard
from pipelines.profile import REPO_ROOT, load
from pipelines.scorecard.model import STATUSES
from pipelines.scorecard.text import no_figures
from pipelines.scorecard.write import write_scorecard
from pipelines.stages import all_stages


def main(argv: list[str] | None = None) -> int:
    """Run the command line with the arguments ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.scorecard",
                                     description=scorecard.__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None,
                        help="profile name or YAML path whose figures are judged (default $JSCC_PROFILE or mini)")
    parser.add_argument("--out", default="reports/index.html",
                        help="HTML file to write; the .md and thumbs/ go beside it (default reports/index.html)")
    args = parser.parse_args(argv)
    ref = args.profile or os.environ.get("JSCC_PROFILE", "mini")
    try:
        profile = load(ref)
    except (ProfileError, OSError) as exc:
        print(f"scorecard: cannot read profile {ref!r}: {exc}", file=sys.stderr)
        return 2
    stages = all_stages(ref)
    card = write_scorecard(stages, profile, args.out, REPO_ROOT, profile_ref=ref)
    out = Path(args.out)
    summary = "; ".join(
        f"{p.id}: " + (", ".join(f"{p.count(s)} {s}" for s in STATUSES if p.count(s)) or no_figures(p))
        for p in card.papers)
    print(f"wrote {out} and {out.with_suffix('.md')} ({summary})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
