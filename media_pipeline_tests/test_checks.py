"""The asset checks' verdicts: each one can fail, and says why."""

from dagster import AssetCheckSeverity

from media_pipeline.checks import deliverable_complete, deliverable_conformant, first_frames_faithful
from media_pipeline.media.conform import ConformSpec, conformance_problems
from media_pipeline.media.probe import MediaInfo
from media_pipeline.records import Deliverable, GeneratedClips, ShotClip

GOOD = MediaInfo(
    path="x.mp4",
    container="mp4",
    size_bytes=1,
    duration=2.0,
    video_codec="h264",
    width=854,
    height=480,
    fps=24.0,
    frame_count=48,
    pix_fmt="yuv420p",
    video_duration=2.0,
    audio_codec="aac",
    audio_rate=48000,
    audio_channels=2,
    audio_duration=2.0,
)


def test_a_conformant_file_has_no_problems_and_each_deviation_is_named():
    spec = ConformSpec(width=854, height=480, fps=24)
    assert conformance_problems(GOOD, spec) == []
    wrong = GOOD.model_copy(update={"width": 640, "audio_channels": 1, "fps": 25.0, "audio_duration": 1.5})
    problems = conformance_problems(wrong, spec)
    assert any(p.startswith("size (640, 480)") for p in problems)
    assert any("audio channels 1" in p for p in problems) and any("fps 25.000" in p for p in problems)
    assert any(p.startswith("audio 1.500s vs video 2.000s") for p in problems)


def test_deliverable_check_fails_when_a_rendition_is_not_the_size_the_spec_asks_for():
    result = deliverable_conformant(
        "c", {"16:9": (GOOD, ConformSpec(width=854, height=480)), "9:16": (GOOD, ConformSpec(width=480, height=854))}
    )
    assert not result.passed and "9:16: size (854, 480) != (480, 854)" in result.metadata["problems"].value
    assert result.metadata["campaign"].value == "c" and result.metadata["failing_renditions"].value == "9:16"


def test_first_frames_check_names_the_drifted_shots():
    clips = [ShotClip(shot="a", status="generated", fidelity=0.97), ShotClip(shot="b", status="cached", fidelity=0.4)]
    result = first_frames_faithful(GeneratedClips(campaign="c", generator="xai", clips=clips))
    assert not result.passed and result.metadata["drifted_shots"].value == "b (0.4)"


def _record(**changes) -> Deliverable:
    fields = dict(
        campaign="c",
        master_key="deliverables/c/v/1/c.mp4",
        renditions=[],
        version="1",
        poster_key="deliverables/c/v/1/c_poster.jpg",
        contact_sheet_key="deliverables/c/v/1/c_sheet.png",
        duration=2.0,
        sha256="0" * 64,
    )
    return Deliverable(**(fields | changes))


def test_deliverable_complete_warns_naming_each_skipped_shot_and_passes_when_none_is():
    result = deliverable_complete(_record(skipped_shots={"b": "moderated", "d": "corrupt image"}))
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert result.metadata["missing_shots"].value == "b: moderated\nd: corrupt image"
    assert result.description == "campaign 'c': 2 shot(s) missing: b, d"
    assert result.metadata["failing_shots"].value == "b, d" and result.metadata["campaign"].value == "c"
    whole = deliverable_complete(_record())
    assert whole.passed and whole.metadata["missing_shots"].value == "none"
