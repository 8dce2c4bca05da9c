"""The ``media-pipeline`` command: ``demo``, ``run CAMPAIGN [--json]``, ``estimate CAMPAIGN [--json]``,
``reroll CAMPAIGN SHOT [--takes N]``, ``review CAMPAIGN``, ``approve CAMPAIGN... [--json]``, ``xai-emulator``.

What the user can fix reaches them as one clear message and exit status 1, not a traceback: a bad setting
(naming the variable), a store that refuses us, a campaign that cannot run. With ``--json`` the message is the
``error`` of the one JSON object printed, on failure too; even a bug prints that object (its traceback on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from .campaign import CampaignError
from .resources.store import StoreError
from .runner import RunSummary
from .settings import ConfigurationError

USER_ERRORS = (ConfigurationError, CampaignError, StoreError)


def usd(amount: float) -> str:
    """Dollars to the cent, or to the tenth of a cent when the amount has one (a batch clip costs $0.045)."""
    return f"${amount:.2f}" if abs(round(amount, 3) - round(amount, 2)) < 1e-9 else f"${amount:.3f}"


def _print_summary(summary: RunSummary, as_json: bool) -> None:
    if as_json:
        print(summary.model_dump_json(indent=2))
        return
    print(f"campaign {summary.campaign}: {summary.status}")
    for shot in summary.shots:
        error = shot.error if shot.error and shot.error not in (summary.error or "") else ""  # said once, below
        detail = error or shot.request_id or ""
        if shot.cache_hit:  # a cost with a cache hit: the picked take was stored, the shot's other takes were not
            detail = "picked take cached, other takes paid" if shot.cost_usd else "cache hit"
        print(f"  {shot.shot:<24} {shot.status:<10} {usd(shot.cost_usd)}  {detail}")
    if summary.error:
        print(summary.error, file=sys.stderr)
    for path in summary.deliverables:
        print(f"  -> {path}")
    if summary.review:
        print(summary.review.detail)
    print(f"api calls {summary.api_calls}, cost {usd(summary.cost_usd)}")


def _run(campaign: str, as_json: bool, verbose: bool = False, generation: dict[str, object] | None = None) -> int:
    from dagster._core.utils import make_new_run_id

    from .definitions import build_defs, home
    from .housekeeping import fail_orphaned_runs, process_temp_dir, run_tags
    from .progress import ProgressLine
    from .runner import instance_from_env, run_campaign

    defs = build_defs()
    run_id = make_new_run_id()
    with instance_from_env(home()) as instance, process_temp_dir():
        fail_orphaned_runs(instance)
        live = not (as_json or verbose) and sys.stderr.isatty()  # a progress line only where a person watches
        with ProgressLine(instance, run_id, sys.stderr) if live else contextlib.nullcontext():
            summary = run_campaign(
                defs,
                instance,
                campaign,
                tags=run_tags(),
                console_log_level="DEBUG" if verbose else "CRITICAL",
                run_id=run_id,
                generation=generation,
            )
    _print_summary(summary, as_json)
    return 0 if summary.status in ("success", "waiting") else 1  # waiting: a later run or the sensor finishes


def _demo() -> int:
    """Drop the sample campaign locally and run it offline with the local generator."""
    os.environ["MEDIA_PIPELINE_GENERATOR"] = "local"
    from .definitions import drops_from_env
    from .demo import DEMO_CAMPAIGN, write_demo_campaign
    from .resources.drops import LocalDropZone

    drops = drops_from_env()
    if not isinstance(drops, LocalDropZone):
        print("media-pipeline demo writes to a local drop folder; unset MEDIA_PIPELINE_DROPS", file=sys.stderr)
        return 2
    folder = write_demo_campaign(Path(drops.root))
    print(f"dropped the demo campaign in {folder}")
    code = _run(DEMO_CAMPAIGN, as_json=False)
    if code == 0:
        print("\nThe demo deliverable is the first path above. Open the UI with `make dev` to see the lineage.")
    return code


def _estimate(campaign: str, as_json: bool) -> int:
    from .definitions import build_defs
    from .runner import estimate_campaign

    cost = estimate_campaign(build_defs(), campaign)  # a true dry run: no instance, nothing stored
    if as_json:
        shots = {s: {"takes": cost.takes_by_shot[s], "usd": round(cost.usd_by_shot[s], 6)} for s in sorted(cost.shots)}
        print(
            json.dumps({"campaign": campaign, "shots": shots, "takes": cost.takes, "usd": round(cost.usd, 6)}, indent=2)
        )
        return 0
    takes = f" ({cost.takes} takes)" if cost.takes != len(cost.shots) else ""
    print(f"campaign {campaign}: {len(cost.shots)} uncached shot(s){takes}, estimated {usd(cost.usd)}")
    return 0


def _reroll(args: argparse.Namespace) -> int:
    """New takes for one shot: the estimate first, then a run that pays for those takes only (budget applies)."""
    from .definitions import build_defs
    from .runner import estimate_campaign
    from .takes import Reroll

    reroll = Reroll(shot=args.shot, takes=args.takes, model=args.model)
    cost = estimate_campaign(build_defs(), args.campaign, reroll=reroll)
    own_takes, own_usd = cost.takes_by_shot.get(args.shot, 0), cost.usd_by_shot.get(args.shot, 0.0)
    line = f"campaign {args.campaign}: re-roll of shot {args.shot}: {own_takes} new take(s), estimated {usd(own_usd)}"
    if cost.takes > own_takes:  # the chained shots start from the pick: made anew only if a new take is picked
        line += (f"; {cost.takes - own_takes} take(s) of the shots chained after it, made anew only if its pick "
                 f"changes: at most {usd(cost.usd - own_usd)} more")  # fmt: skip
    print(line, file=sys.stderr if args.json else sys.stdout)
    config = {"reroll_shot": args.shot, "reroll_takes": args.takes, "reroll_model": args.model}
    return _run(args.campaign, args.json, args.verbose, generation=config)


def _review(campaign: str | None, as_json: bool) -> int:
    """One campaign's review and previews; without a campaign, every draft awaiting approval."""
    from .campaign import check_campaign_id
    from .definitions import build_defs
    from .resources.review import AwaitingApproval, awaiting_approval, current_review

    store = build_defs().resources["store"]
    if campaign is None:
        awaiting = AwaitingApproval(awaiting_approval=awaiting_approval(store))
        if as_json:
            print(awaiting.model_dump_json(indent=2))
        for review in [] if as_json else awaiting.awaiting_approval:
            print(f"{review.campaign}  version {review.version}")
        return 0
    review = current_review(store, check_campaign_id(campaign))
    if review is None:
        raise CampaignError(f"campaign {campaign!r}: nothing was drafted or published yet")
    if as_json:
        print(review.model_dump_json(indent=2))
        return 0
    print(review.detail)
    for where in review.preview:
        print(f"  preview {where}")
    return 0


def _approver(named: str | None) -> str:
    """Who approves: ``--by``, else the login name (empty when the system knows none)."""
    if named is not None:
        if len(named.strip()) > 100:
            raise CampaignError("approve --by: a name of at most 100 characters")
        return named.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such user in the passwd database (a bare container), no login name
        return ""


def _approve(campaigns: list[str], version: str, approved_by: str, as_json: bool) -> int:
    from .definitions import build_defs, home
    from .review_cli import approve_campaigns
    from .runner import instance_from_env

    if version and len(campaigns) > 1:
        raise CampaignError(f"--version names one campaign's draft; {len(campaigns)} campaigns were given")
    defs = build_defs()
    with instance_from_env(home()) as instance:
        summary = approve_campaigns(defs, instance, campaigns, version, approved_by)
    if as_json:
        print(summary.model_dump_json(indent=2))
    for approval in summary.approvals if not as_json else []:
        if approval.error:
            print(approval.error, file=sys.stderr)
            continue
        by = f" by {approval.approved_by}" if approval.approved_by else ""
        print(f"campaign {approval.campaign}: version {approval.version} approved{by} and published")
        for path in approval.deliverables:
            print(f"  -> {path}")
    return 0 if summary.status == "success" else 1


def _named(args: argparse.Namespace) -> str:
    """The campaign (or campaigns, for ``approve``) a command was given, for its failure object."""
    return getattr(args, "campaign", None) or " ".join(getattr(args, "campaigns", []))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``media-pipeline`` console script."""
    parser = argparse.ArgumentParser(prog="media-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="drop a sample campaign and run it to a finished MP4, offline")
    run = commands.add_parser("run", help="materialize a campaign's whole chain on the instance at DAGSTER_HOME")
    run.add_argument("campaign")
    run.add_argument("--json", action="store_true", help="print one JSON summary object")
    run.add_argument("--verbose", action="store_true", help="also print Dagster's event log (the UI keeps it anyway)")
    estimate = commands.add_parser("estimate", help="dry-run cost of a campaign's uncached shots")
    estimate.add_argument("campaign")
    estimate.add_argument(
        "--json", action="store_true", help="print one JSON object: each uncached shot's takes and cost"
    )
    reroll = commands.add_parser("reroll", help="new takes for one shot; shows the estimate, then pays for those only")
    reroll.add_argument("campaign")
    reroll.add_argument("shot")
    reroll.add_argument("--takes", type=int, default=1, help="how many new takes (default 1)")
    reroll.add_argument("--model", default=None, help="the new takes' model (default: the campaign's)")
    reroll.add_argument("--json", action="store_true", help="print one JSON summary object (the estimate on stderr)")
    reroll.add_argument("--verbose", action="store_true", help="also print Dagster's event log")
    review = commands.add_parser("review", help="the review status of a campaign's set and where to preview it")
    review.add_argument("campaign", nargs="?", help="without it: every campaign whose draft awaits approval")
    review.add_argument("--json", action="store_true", help="print one JSON object")
    approve = commands.add_parser("approve", help="approve campaigns' drafts (review: required) and publish them")
    approve.add_argument("campaigns", nargs="+", metavar="CAMPAIGN")
    approve.add_argument("--version", default="", help="the draft version you previewed (one campaign)")
    approve.add_argument("--by", default=None, help="your name in the approval record (default: your login name)")
    approve.add_argument("--json", action="store_true", help="print one JSON object")
    commands.add_parser("xai-emulator", help="serve the xAI video API emulator on loopback", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "xai-emulator":
        from .emulator.server import main as emulator_main

        return emulator_main(rest) or 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "demo":
            return _demo()
        if args.command == "run":
            return _run(args.campaign, args.json, args.verbose)
        if args.command == "reroll":
            return _reroll(args)
        if args.command == "review":
            return _review(args.campaign, args.json)
        if args.command == "approve":
            return _approve(args.campaigns, args.version, _approver(args.by), args.json)
        return _estimate(args.campaign, args.json)
    except USER_ERRORS as exc:
        if getattr(args, "json", False):
            _print_summary(RunSummary(campaign=_named(args), status="failure", error=str(exc)), as_json=True)
        else:
            print(exc, file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: its traceback for us, and still the one JSON object promised to scripts
        if not getattr(args, "json", False):
            raise
        traceback.print_exc()
        error = f"internal error: {type(exc).__name__}: {exc}"
        _print_summary(RunSummary(campaign=_named(args), status="failure", error=error), as_json=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
