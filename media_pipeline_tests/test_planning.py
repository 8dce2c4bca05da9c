"""The plan of a run without Dagster: takes, cache keys (take 1 keeps the key clips had before takes), lanes,
picks and re-rolls, the pick between scored takes, and the import rule (planning imports no Dagster)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from media_pipeline.campaign import CampaignError, load_campaign
from media_pipeline.clip_planner import ClipPlanner
from media_pipeline.media.scoring import ColourSignature, TakeScores
from media_pipeline.picks import TakeResult, first_pick, settle
from media_pipeline.planning import lane_after, lanes, shot_takes
from media_pipeline.records import HostedImage, HostedImages, ShotClip, SourceFile, SourceImages
from media_pipeline.takes import Reroll, ShotChoices, make_plan, plan_problems

SHA = "ab" * 32
MANIFEST = """\
style: soft light
shots:
  - {image: a.png, prompt: slow push in}
  - {image: b.png, prompt: slow push in, takes: 3}
  - {id: c, chain: true, prompt: the camera rises}
  - {image: d.png, audio: false, prompt: slow push in, takes: [{model: grok-imagine-video-1.5-lite}, {}]}
"""


def _campaign(manifest: str = MANIFEST):
    return load_campaign("spring", ["a.png", "b.png", "d.png"], manifest)


def _planner(campaign, **plan_args) -> ClipPlanner:
    files = {name: SourceFile(file=name, key=f"sources/{SHA}.png", sha256=SHA) for name in ("a.png", "b.png", "d.png")}
    hosted = {name: HostedImage(key=f"sources/{SHA}.png", sha256=SHA) for name in files}
    sources = SourceImages(campaign=campaign, files=files)
    plan = make_plan(campaign, {}, **plan_args)
    return ClipPlanner(plan, sources, HostedImages(campaign="spring", images=hosted), store=None, generator_kind="xai")


def _source() -> HostedImage:
    return HostedImage(key=f"sources/{SHA}.png", sha256=SHA)


def test_the_first_take_keeps_the_cache_key_clips_had_before_takes_and_later_takes_get_their_own():
    planner = _planner(_campaign())
    takes = planner.plan.takes
    # the keys the pre-takes planner (assets/clip_plan.py) gave these clips, pinned: paid clips stay valid
    assert planner.request(takes["a"][0], _source()).cache_key == "1d02ac4ebb27b5db28dd09eff81dfe11"
    b = [planner.request(take, _source()) for take in takes["b"]]
    assert b[0].cache_key == "1d02ac4ebb27b5db28dd09eff81dfe11" and b[0].take == 1  # same inputs as shot a
    assert len({r.cache_key for r in b}) == 3 and [r.take for r in b] == [1, 2, 3]
    assert b[1].where == "campaign 'spring', shot 'b', take 2"
    d = [planner.request(take, _source()) for take in takes["d"]]
    assert [r.model for r in d] == ["grok-imagine-video-1.5-lite", "grok-imagine-video-1.5-preview"]
    assert d[1].cache_key != "fe6c4f50c440981c1669d869637f2d00"  # take 2 of a silent clip: its own key
    silent = _planner(_campaign(MANIFEST.replace("takes: [{model: grok-imagine-video-1.5-lite}, {}]", "takes: 1")))
    assert silent.request(silent.plan.takes["d"][0], _source()).cache_key == "fe6c4f50c440981c1669d869637f2d00"


def test_a_model_written_by_its_id_or_its_alias_is_one_clip():
    """``grok-imagine-video-1.5`` and its alias ``-1.5-preview`` (the default) are one model: one key, paid once,
    and the default's key is the one clips paid before the catalog had aliases carry."""
    one = "style: soft light\nshots:\n  - {image: a.png, prompt: slow push in}\n"
    keys = {}
    for model in ("grok-imagine-video-1.5", "grok-imagine-video-1.5-preview", "grok-imagine-video-1.5-lite"):
        planner = _planner(_campaign(f"model: {model}\n{one}"))
        keys[model] = planner.request(planner.plan.takes["a"][0], _source()).cache_key
    assert (
        keys["grok-imagine-video-1.5"] == keys["grok-imagine-video-1.5-preview"] == "1d02ac4ebb27b5db28dd09eff81dfe11"
    )
    assert keys["grok-imagine-video-1.5-lite"] != keys["grok-imagine-video-1.5"]


def test_takes_and_lanes_of_a_campaign():
    campaign = _campaign()
    assert [[s.shot_id for s in lane] for lane in lanes(campaign.shots)] == [["a"], ["b", "c"], ["d"]]
    assert lane_after(campaign.shots, "b") == ["b", "c"] and lane_after(campaign.shots, "d") == ["d"]
    b = campaign.shot("b")
    assert [(t.number, t.rolled) for t in shot_takes(campaign, b, ["m2"])] == [(1, 0), (2, 0), (3, 0), (4, 1)]
    assert shot_takes(campaign, b, ["m2"])[-1].model == "m2"


def test_picks_and_rerolls_make_the_plan_and_wrong_ones_are_named():
    campaign = _campaign(MANIFEST.replace("takes: 3}", "takes: 3, pick: 2}"))
    stored = {"b": ShotChoices(rolled=["grok-imagine-video-1.5"], pick=4), "a": ShotChoices(pick=1)}
    plan = make_plan(campaign, stored)
    assert len(plan.takes["b"]) == 4 and plan.takes["b"][3].rolled and plan.generate is None
    assert plan.picks == {"b": 2, "a": 1}  # the manifest's pick wins over the stored one
    assert make_plan(campaign, stored, picks={"b": 3}).picks["b"] == 3  # the run config's over both
    rolled = make_plan(campaign, stored, reroll=Reroll(shot="b", takes=2, id="run-1"))
    assert len(rolled.takes["b"]) == 6 and rolled.generate == frozenset({"b", "c"})
    kept = {"b": ShotChoices(rolled=["grok-imagine-video-1.5"] * 3, rolls=["run-1"])}  # run-1's takes were kept
    retried = make_plan(campaign, kept, reroll=Reroll(shot="b", takes=2, id="run-1"))  # a retry of run-1
    assert len(retried.takes["b"]) == 6 and retried.generate == frozenset({"b", "c"})  # rolls nothing more
    assert plan_problems(make_plan(campaign, {}, picks={"b": 7, "zz": 1}), {"b": 7, "zz": 1}, None) == [
        "pick for shot 'zz': the campaign has no such shot",
        "shot 'b': pick 7 is not one of its takes (1-3)",
    ]
    assert "no such shot" in plan_problems(plan, {}, Reroll(shot="nope"))[0]


def test_a_manifest_with_bad_takes_is_refused_before_paying():
    with pytest.raises(CampaignError, match="takes"):
        _campaign(MANIFEST.replace("takes: 3", "takes: 0"))
    with pytest.raises(CampaignError, match="unknown key 'shots.1.takes.*colour'|colour"):
        _campaign(MANIFEST.replace("takes: 3", "takes: [{colour: red}]"))
    pinned = "shots:\n  - {image: a.png, end_image: b.png, takes: [{model: grok-imagine-video}]}\n"
    with pytest.raises(CampaignError, match="'grok-imagine-video' does not"):
        _campaign(pinned)


def _scores(first: float, frozen: float = 0.0, mean: float = 0.5) -> TakeScores:
    flat = tuple([1.0 / 32] * 32)
    colour = ColourSignature(mean=(mean, mean, mean), histograms=(flat, flat, flat))
    return TakeScores(seconds=2.0, first_frame_ssim=first, frozen_seconds=frozen, frozen_fraction=frozen / 2,
                      black_seconds=0.0, black_fraction=0.0, colour=colour, overall=0.0, reason="")  # fmt: skip


def _result(take, status: str = "generated", scores: TakeScores | None = None, cost: float = 0.1) -> TakeResult:
    from media_pipeline.takes import StoredScores

    clip = ShotClip(shot=take.shot.shot_id, status=status, clip_key=f"clips/{take.number}.mp4", cost_usd=cost,
                    api_calls=2)  # fmt: skip
    return TakeResult(take, clip, StoredScores(clip_bytes=1, scores=scores) if scores else None)


def test_the_clean_take_is_picked_with_the_reason_and_the_shot_record_counts_every_take():
    campaign = _campaign()
    plan = make_plan(campaign, {})
    b = plan.takes["b"]
    takes = [_result(b[0], scores=_scores(0.2)), _result(b[1], status="failed"), _result(b[2], scores=_scores(0.95))]
    takes[1].clip.clip_key = None
    result = first_pick(plan, takes)
    assert result.first == 3 and result.reason.startswith("take 3 scored")
    assert "take 1 starts on another picture" in result.reason and "no clip: take 2" in result.reason
    results = {s: first_pick(plan, [_result(t, scores=_scores(0.9)) for t in plan.takes[s]]) for s in "acd"}
    records = {r.shot: r for r in settle(plan, {**results, "b": result})}
    assert records["b"].take == 3 and records["b"].clip_key == "clips/3.mp4" and len(records["b"].takes) == 3
    assert records["b"].cost_usd == pytest.approx(0.3) and records["b"].api_calls == 6  # all takes' spend
    assert "kept: the next shot is chained to it" in records["b"].pick_reason
    assert records["a"].takes == [] and records["a"].scores["first_frame_ssim"] == 0.9  # one take: as it is
    by_hand = make_plan(campaign, {}, picks={"b": 1})
    assert first_pick(by_hand, takes).first == 1 and first_pick(by_hand, takes).reason == "take 1 picked by hand"


def test_planning_imports_no_dagster():
    """Module-level imports only: a ``TYPE_CHECKING`` block is an ``if``, not followed."""
    package = Path(__file__).parents[1] / "media_pipeline"
    seen, todo = set(), ["planning", "clip_planner", "takes", "picks", "estimate", "clip_request"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for node in ast.parse((package / (module.replace(".", "/") + ".py")).read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                parts = module.split(".")
                base = parts[: len(parts) - node.level] if node.level else []
                names = [".".join([*base, node.module or ""]) if node.level else node.module or ""]
            for name in names:
                assert name.split(".")[0] != "dagster", f"{module} imports {name}"
                target = name.removeprefix("media_pipeline.")
                if (package / (target.replace(".", "/") + ".py")).exists() and not name.startswith("dagster"):
                    todo.append(target)
    assert {"planning", "takes", "picks", "estimate", "clip_request", "media.scoring", "records"} <= seen


def test_the_estimate_walks_the_plan_pricing_each_take_to_make_once(tmp_path):
    from media_pipeline.estimate import estimate
    from media_pipeline.resources.store import LocalMediaStore

    campaign = _campaign()

    def priced(**plan_args):
        planner = _planner(campaign, **plan_args)
        planner.store = LocalMediaStore(root=str(tmp_path))
        return estimate(planner, price=lambda spec: 0.05 * spec.duration, paid=lambda cache_key: False)

    whole = priced()  # a 1, b 3 (its take 1 is a's clip: paid once), c chained on b (priced from its spec), d 2
    assert (whole.takes, whole.shots, round(whole.usd, 2)) == (6, {"a", "b", "c", "d"}, 1.5)
    rolled = priced(reroll=Reroll(shot="b", takes=2))  # b's five takes and c after it; neither a nor d
    assert (rolled.takes, rolled.shots) == (6, {"b", "c"})


def _signature(bin_: int) -> ColourSignature:
    histogram = tuple(1.0 if i == bin_ else 0.0 for i in range(32))
    return ColourSignature(mean=(bin_ / 32,) * 3, histograms=(histogram,) * 3)


def test_the_final_pick_counts_the_colour_of_the_neighbouring_shots_picks():
    campaign = _campaign()
    plan = make_plan(campaign, {})
    results = {s: first_pick(plan, [_result(t, scores=_scores(0.95)) for t in plan.takes[s]]) for s in "abc"}
    for result in results.values():
        for take in result.takes:
            take.stored.scores = take.stored.scores.model_copy(update={"colour": _signature(0)})
    off, matching = _scores(0.99).model_copy(update={"colour": _signature(31)}), _scores(0.9)
    matching = matching.model_copy(update={"colour": _signature(0)})
    d = plan.takes["d"]
    results["d"] = first_pick(plan, [_result(d[0], scores=off), _result(d[1], scores=matching)])
    assert results["d"].first == 1  # on its own measures take 1 is better
    final = {r.shot: r for r in settle(plan, results)}["d"]
    assert final.take == 2 and "take 1 colour off its neighbours" in final.pick_reason
    assert final.takes[0].scores["colour_distance"] > 0.9 and final.takes[1].scores["colour_distance"] == 0
