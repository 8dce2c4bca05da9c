"""A campaign asking for 29.97 fps is delivered at exactly 30000/1001, through the conform path.

The local animator writes 24 fps clips, so a 29.97 programme conforms every clip (nothing is stream-copied);
the master and every rendition then run at 30000/1001 (never 30), with the frame count that exact rate gives,
and the sound lasts as long as the picture.
"""

from fractions import Fraction
from pathlib import Path

import av
import pytest
from dagster import AssetKey, materialize
from pydantic import ValidationError

from media_pipeline.assets import campaign_assets
from media_pipeline.deliverable_spec import DeliverableSpec
from media_pipeline.records import Deliverable

from .builders import SMALL_MANIFEST, write_campaign
from .conftest import add_campaign_partition

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize(
    ("given", "rate"),
    [(29.97, NTSC), ("29.97", NTSC), (23.976, Fraction(24000, 1001)), ("24000/1001", Fraction(24000, 1001)), (25, 25)],
)
def test_fps_is_an_exact_rate(given: object, rate: Fraction) -> None:
    spec = DeliverableSpec(fps=given)
    assert spec.fps == rate and DeliverableSpec.model_validate_json(spec.model_dump_json()).fps == rate


@pytest.mark.parametrize("given", [61, 11.5, "fast", True, float("inf")])
def test_fps_outside_12_to_60_or_not_a_rate_is_refused(given: object) -> None:
    with pytest.raises(ValidationError, match="fps"):
        DeliverableSpec(fps=given)


def test_a_whole_rate_is_written_as_before() -> None:
    assert '"fps":24' in DeliverableSpec().model_dump_json()


def _rate_and_frames(path: Path) -> tuple[Fraction, int, float, float]:
    """The file's video rate, its frame count (packets), and its video and audio durations in seconds."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        rate = Fraction(video.average_rate)
        durations = [float(s.duration * s.time_base) for s in (video, audio)]
        frames = sum(1 for packet in container.demux(video) if packet.size)
    return rate, frames, durations[0], durations[1]


@pytest.mark.slow
def test_a_29_97_campaign_is_delivered_at_30000_over_1001(instance, local_resources, drops_root):
    manifest = SMALL_MANIFEST + '  fps: 29.97\n  renditions: ["16:9", "1:1"]\n'
    write_campaign(drops_root, "ntsc", shots=2, manifest=manifest)
    add_campaign_partition(instance, "ntsc")
    result = materialize(campaign_assets, resources=local_resources, partition_key="ntsc", instance=instance)
    assert result.success

    store_root = Path(local_resources["store"].root)
    record = Deliverable.model_validate_json((store_root / "records/deliverable/ntsc.json").read_bytes())
    overlap = round(Fraction(1, 4) * NTSC)  # the 0.25 s crossfade, in whole frames at 29.97
    expected = 2 * round(1 * NTSC) - overlap  # two 1 s shots
    assert (overlap, expected) == (7, 53)
    for rendition in record.renditions:
        rate, frames, video_seconds, audio_seconds = _rate_and_frames(store_root / rendition.key)
        assert rate == NTSC, f"{rendition.aspect}: {rate}"
        assert frames == expected
        assert video_seconds == pytest.approx(float(expected / NTSC), abs=1e-3)
        assert audio_seconds == pytest.approx(video_seconds, abs=float(1 / NTSC))
    metadata = instance.get_latest_materialization_event(AssetKey("deliverable")).asset_materialization.metadata
    assert metadata["stream_copied"].value is False  # the 24 fps clips were conformed, not copied
