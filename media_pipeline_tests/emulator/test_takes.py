"""Takes through the real ``xai_sdk`` over gRPC: identical requests counted, the N-th made to drift or freeze,
repeats made to differ slightly, all of it visible at ``/_stats`` and measured by ``media.scoring``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import requests

from media_pipeline.emulator.faults import Faults, FaultState
from media_pipeline.emulator.options import build_parser, config_from_args
from media_pipeline.media.scoring import COLOUR_OFF, DRIFT_SSIM, TakeScores, best_take, score_take
from media_pipeline_tests.emulator.sdk import sdk_client, sdk_generate
from media_pipeline_tests.emulator.test_batch import prepared, wait_finished
from media_pipeline_tests.xai_builders import EmulatorFactory, image_bytes

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """The picture ``sdk_generate`` sends (``image_data_url()``), as a file to score against."""
    path = tmp_path / "source.png"
    path.write_bytes(image_bytes())
    return path


def download(url: str, dest: Path) -> Path:
    reply = requests.get(url, timeout=10)
    reply.raise_for_status()
    dest.write_bytes(reply.content)
    return dest


def takes(emulator, folder: Path, count: int, prompt: str = "slow push in on the product") -> list[Path]:  # noqa: ANN001
    """``count`` identical requests, one after the other, downloaded as take1.mp4 ..."""
    with sdk_client(emulator) as client:
        urls = [sdk_generate(client, prompt=prompt).url for _ in range(count)]
    return [download(url, folder / f"take{i}.mp4") for i, url in enumerate(urls, start=1)]


def test_the_second_take_drifts_and_the_third_freezes(
    xai_emulator_factory: EmulatorFactory, source: Path, tmp_path: Path
) -> None:
    emulator = xai_emulator_factory(drift_repeats=(2,), freeze_repeats=(3,))
    clips = takes(emulator, tmp_path, 3)
    scores = [score_take(clip, source) for clip in clips]
    clean, drifted, frozen = scores
    assert not clean.defects
    assert drifted.first_frame_ssim is not None and drifted.first_frame_ssim < DRIFT_SSIM
    assert frozen.frozen_seconds >= 0.5
    assert frozen.first_frame_ssim is not None and frozen.first_frame_ssim > DRIFT_SSIM  # it starts right
    index, reason = best_take(scores)
    assert index == 0 and "take 2 starts on another picture" in reason and "take 3 frozen" in reason
    stats = emulator.stats
    assert stats["paid"]["looks"] == {"drift": 1, "freeze": 1}
    assert [(s["repeat"], s["look"]) for s in stats["submits"]] == [(1, "clean"), (2, "drift"), (3, "freeze")]
    assert stats["paid"]["requests"] == 3  # a drifted or frozen take is billed like any other

    # set_faults starts the count again: the next identical request is the first, and it now freezes
    emulator.set_faults(drift_repeats=(), freeze_repeats=(1,))
    (tmp_path / "again").mkdir()
    (again,) = takes(emulator, tmp_path / "again", 1)
    assert again.read_bytes() == clips[2].read_bytes()  # the same frozen render, from the cache
    assert emulator.paid_requests[-1].repeat == 1 and emulator.paid_requests[-1].look == "freeze"


def test_markers_and_other_shots_are_counted_apart(
    xai_emulator_factory: EmulatorFactory, source: Path, tmp_path: Path
) -> None:
    emulator = xai_emulator_factory(drift_repeats=(2,))
    with sdk_client(emulator) as client:
        sdk_generate(client, prompt="pan left")  # another shot's first take
        sdk_generate(client)  # this shot's first take: clean, whatever came before
        url = sdk_generate(client, prompt="slow push in [freeze]").url
    assert [p.look for p in emulator.paid_requests] == ["clean", "clean", "freeze"]
    marked = score_take(download(url, tmp_path / "marked.mp4"), source)
    assert marked.frozen_fraction > 0.5 and "frozen" in marked.reason


def test_repeats_differ_slightly_and_still_score_clean(
    xai_emulator_factory: EmulatorFactory, source: Path, tmp_path: Path
) -> None:
    emulator = xai_emulator_factory(repeat_variants=2)
    first, second, third = takes(emulator, tmp_path, 3)
    assert first.read_bytes() != second.read_bytes()  # a stochastic model's takes differ
    assert third.read_bytes() == first.read_bytes()  # two variants, cycled
    scores: list[TakeScores] = [score_take(clip, source) for clip in (first, second)]
    assert all(not s.defects and s.overall > 0.9 for s in scores)
    assert 0 < scores[0].colour.distance(scores[1].colour) < COLOUR_OFF
    assert [p.repeat for p in emulator.paid_requests] == [1, 2, 3]


def test_batch_takes_are_counted_like_sync_ones(
    xai_emulator_factory: EmulatorFactory, source: Path, tmp_path: Path
) -> None:
    emulator = xai_emulator_factory(drift_repeats=(2,), freeze_repeats=(3,))
    with sdk_client(emulator) as client:
        batch = client.batch.create("takes")
        names = ["take-1", "take-2", "take-3"]
        client.batch.add(batch.batch_id, [prepared(client, name) for name in names])
        wait_finished(client, batch.batch_id)
        results = client.batch.list_batch_results(batch.batch_id).succeeded
    urls = {r.batch_request_id: r.video_response.url for r in results}
    scores = [score_take(download(urls[name], tmp_path / f"{name}.mp4"), source) for name in names]
    assert [s.reason.split(" ")[0] for s in scores] == ["clean,", "starts", "frozen"]
    assert best_take(scores)[0] == 0
    assert emulator.stats["paid"]["looks"] == {"drift": 1, "freeze": 1}


def test_a_drift_rate_is_seeded_and_first_n_counts_rendered_requests() -> None:
    def looks(faults: Faults, prompts: tuple[str, ...] = ("a",) * 40) -> list[str]:
        state = FaultState(faults)
        return [state.fate(prompt).admitted("one shot").look for prompt in prompts]

    drawn = looks(Faults(drift_rate=0.5, freeze_rate=0.2, seed=3))
    assert drawn == looks(Faults(drift_rate=0.5, freeze_rate=0.2, seed=3))  # repeatable
    assert drawn != looks(Faults(drift_rate=0.5, freeze_rate=0.2, seed=4))
    assert 10 < drawn.count("drift") < 30 and drawn.count("freeze") > 0
    # a FAILED request renders nothing, so it takes no drift: the first rendered one does
    assert looks(Faults(drift_first=1), ("[fail]", "a", "b")) == ["clean", "drift", "clean"]


def test_take_faults_are_validated_and_on_the_command_line() -> None:
    with pytest.raises(ValueError, match="from 1"):
        Faults(drift_repeats=(0,))
    with pytest.raises(ValueError, match="repeat_variants"):
        Faults(repeat_variants=0)
    assert dataclasses.replace(Faults(), freeze_repeats=[2, 3]).freeze_repeats == (2, 3)  # type: ignore[arg-type]
    args = build_parser().parse_args(
        ["--drift-repeats", "2", "--freeze-repeats", "3,4", "--repeat-variants", "3", "--freeze-marker", ""]
    )
    faults = config_from_args(args, {}).faults
    assert (faults.drift_repeats, faults.freeze_repeats, faults.repeat_variants) == ((2,), (3, 4), 3)
    assert faults.freeze_marker is None and faults.drift_marker == "[drift]"
