"""probe: the facts of a real encode, and an unreadable file named in a MediaError."""

import subprocess

import pytest

from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import ffmpeg_exe
from media_pipeline.media.probe import probe


def test_probe_reads_codecs_size_rate_durations_and_audio(tmp_path):
    clip = tmp_path / "c.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x180:rate=24",
            "-f",
            "lavfi",
            "-i",
            "sine=r=48000",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-y",
            str(clip),
        ],
        check=True,
    )
    info = probe(clip)
    assert (info.video_codec, info.width, info.height, info.pix_fmt) == ("h264", 320, 180, "yuv420p")
    assert info.fps == pytest.approx(24) and info.frame_count == 24
    assert info.video_duration == pytest.approx(1.0, abs=0.01)
    assert (info.audio_codec, info.audio_rate, info.audio_channels) == ("aac", 48000, 2)


def test_an_unreadable_file_is_a_media_error_naming_it_and_what_it_is(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(MediaError, match=r"shot 'hero': cannot read media file .*clip\.mp4"):
        probe(bad, "shot 'hero'")
