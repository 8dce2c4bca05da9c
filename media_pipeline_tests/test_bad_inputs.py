"""The bad-input corpus: images, manifests, campaign ids and settings a user drops or sets by mistake.

Every case runs where a user meets it — ``run_campaign`` (what ``media-pipeline run`` calls) on a real Dagster
instance and store, or the command itself for settings — beside a campaign whose good shots were generated
once. Each one must end in one clear error that names the campaign (and the shot and file it is about), without
Dagster's wrappers or temporary paths, while the good shots keep their clips: the bad shot fails alone, and a
campaign refused as a whole generates nothing.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterInstance
from PIL import Image

from media_pipeline.definitions import build_defs
from media_pipeline.housekeeping import ensure_dagster_home
from media_pipeline.manifest_yaml import MAX_MANIFEST_BYTES
from media_pipeline.runner import RunSummary, run_campaign

from .builders import SMALL_MANIFEST, sample_image, write_campaign

GOOD_SHOTS = ["shot_1", "shot_2"]
WRAPPERS = ("Error occurred while executing", "Exceeded max_retries", "Traceback", "dagster._core")


@dataclass
class Corpus:
    home: Path
    instance: DagsterInstance
    defs: object
    clips: dict[str, float]  # the good shots' clip files and their mtimes after the first run

    @property
    def drops(self) -> Path:
        return self.home / "drops"

    def clip_files(self) -> dict[str, float]:
        return {p.name: p.stat().st_mtime for p in (self.home / "store" / "clips").glob("*.mp4")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("corpus")
    defs = build_defs({"MEDIA_PIPELINE_HOME": str(home), "MEDIA_PIPELINE_GENERATOR": "local"})
    write_campaign(home / "drops", "baseline", shots=2, manifest=SMALL_MANIFEST)
    with DagsterInstance.from_config(str(ensure_dagster_home(home / "dagster"))) as instance:
        first = run_campaign(defs, instance, "baseline", console_log_level="CRITICAL")
        assert first.status == "success", first.error
        store = Corpus(home, instance, defs, {})
        store.clips = store.clip_files()
        assert len(store.clips) == len(GOOD_SHOTS)
        yield store


def _png(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _noise(size: int) -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _animated() -> bytes:
    frames = [sample_image(i) for i in range(2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def _pixel_bomb() -> bytes:
    """A PNG whose header claims 19000 x 19000 pixels: a few bytes that would decode to a gigabyte."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 19000, 19000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _bad_crc() -> bytes:
    data = bytearray(_png(sample_image(3)))
    at = data.index(b"IDAT") + 40
    data[at] ^= 0xFF
    return bytes(data)


def _symlink_out(name: str, target_bytes: bytes) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        outside = folder.parent.parent / f"outside-{folder.name}{Path(name).suffix}"
        outside.write_bytes(target_bytes)
        (folder / name).symlink_to(outside)

    return build


def _file(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        (folder / name).write_bytes(data() if callable(data) else data)

    return build


def _manifest(extra: str) -> Callable[[Path], None]:
    return _file("campaign.yaml", (SMALL_MANIFEST + extra).encode())


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n%%EndComments\nshowpage\n"  # Pillow would run Ghostscript
SHOTS_1_2 = "shots:\n  - image: shot_1.png\n  - image: shot_2.png\n"
GOOD_PNG = _png(sample_image(11))
GOOD_JPEG = _png(sample_image(12), "JPEG", quality=90)

# A shot of its own that cannot be used: (case, builder, shot, file, expected text).
SHOT_CASES = [
    ("truncated-png", _file("shot_3.png", GOOD_PNG[: len(GOOD_PNG) // 2]), "shot_3", "shot_3.png", "cannot decode"),
    ("truncated-jpeg", _file("shot_3.jpg", GOOD_JPEG[: len(GOOD_JPEG) // 2]), "shot_3", "shot_3.jpg", "truncated"),
    ("png-bad-crc", _file("shot_3.png", _bad_crc), "shot_3", "shot_3.png", "broken data stream"),
    ("random-bytes-jpg", _file("shot_3.jpg", bytes(range(256)) * 40), "shot_3", "shot_3.jpg", "not a decodable image"),
    ("text-as-png", _file("shot_3.png", b"hello, not a picture\n"), "shot_3", "shot_3.png", "not a decodable image"),
    ("empty-webp", _file("shot_3.webp", b""), "shot_3", "shot_3.webp", "not a decodable image"),
    ("animated-gif-as-png", _file("shot_3.png", _animated), "shot_3", "shot_3.png", "the content is GIF"),
    ("tiff-as-png", _file("shot_3.png", lambda: _png(sample_image(8), "TIFF")), "shot_3", "shot_3.png",
     "the content is TIFF, an image format"),
    ("eps-as-jpg", _file("shot_3.jpg", EPS), "shot_3", "shot_3.jpg", "the content is EPS, an image format"),
    ("tiny-image", _file("shot_3.png", lambda: _png(Image.new("RGB", (16, 16)))), "shot_3", "shot_3.png", "too small"),
    ("too-wide", _file("shot_3.png", lambda: _png(Image.new("L", (25000, 64)))), "shot_3", "shot_3.png", "too large"),
    ("pixel-bomb", _file("shot_3.png", _pixel_bomb), "shot_3", "shot_3.png", "not a decodable image"),
    ("over-api-size", _file("shot_3.png", lambda: _png(_noise(2048), compress_level=1)), "shot_3", "shot_3.png",
     "over the API's 10 MiB limit"),
    ("heic", _file("shot_3.heic", b"\x00\x00\x00\x18ftypheic" + bytes(64)), "shot_3", "shot_3.heic",
     "HEIC is not an image format the pipeline takes"),
    ("tiff", _file("shot_3.tiff", lambda: _png(sample_image(4), "TIFF")), "shot_3", "shot_3.tiff", "TIFF is not"),
    ("gif-still", _file("shot_3.gif", lambda: _png(sample_image(5), "GIF")), "shot_3", "shot_3.gif", "GIF is not"),
    ("bmp", _file("shot_3.bmp", lambda: _png(sample_image(6), "BMP")), "shot_3", "shot_3.bmp", "BMP is not"),
    ("symlink-out", _symlink_out("shot_3.png", GOOD_PNG), "shot_3", "shot_3.png", "symlink leading out of the drop"),
    ("manifest-names-heic", lambda f: (_file("photo.heic", b"x" * 99)(f),
                                       _manifest(SHOTS_1_2 + "  - image: photo.heic\n")(f)),
     "photo", "photo.heic", "HEIC is not"),
    ("corrupt-end-image", lambda f: (_file("end.png", b"\x89PNG\r\n\x1a\nbroken")(f), _manifest(
        SHOTS_1_2 + "  - {image: shot_1.png, id: pinned, end_image: end.png}\n")(f)),
     "pinned", "end.png", "not a decodable image"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("case", "build", "shot", "file", "expected"), SHOT_CASES, ids=[c[0] for c in SHOT_CASES])
def test_a_bad_image_fails_its_shot_by_name_and_the_good_shots_keep_their_clips(
    corpus, case, build, shot, file, expected
):
    campaign = f"img-{case}"
    build(write_campaign(corpus.drops, campaign, shots=2, manifest=SMALL_MANIFEST))
    summary = run_campaign(corpus.defs, corpus.instance, campaign, console_log_level="CRITICAL")
    _assert_clear(summary, campaign, expected, shot, file)
    by_shot = {s.shot: s for s in summary.shots}
    assert by_shot[shot].status == "failed" and expected in by_shot[shot].error
    for good in GOOD_SHOTS:
        assert by_shot[good].status == "cached" and Path(by_shot[good].clip).is_file()
    assert corpus.clip_files() == corpus.clips  # nothing regenerated, nothing new


def _assert_clear(summary: RunSummary, campaign: str, expected: str, shot: str | None, file: str | None) -> None:
    error = summary.error or ""
    assert summary.status == "failure"
    assert expected in error and f"campaign {campaign!r}" in error, error
    if shot:
        assert f"shot {shot!r}" in error, error
    if file:
        assert file in error, error
    assert not any(wrapper in error for wrapper in WRAPPERS), error
    assert os.environ["TMPDIR"] not in error and len(error) < 2000, error


BOMB = "\n".join(
    ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
)

# The campaign as a whole cannot run: (case, builder, file named, expected text). Nothing may be generated.
CAMPAIGN_CASES = [
    ("unknown-key", _manifest("colour: red\n"), "campaign.yaml", "unknown key 'colour'"),
    ("alias-bomb", _file("campaign.yaml", BOMB.encode()), "campaign.yaml", "YAML aliases (*l0) are not allowed"),
    ("alias", _manifest("prompt_base: &p slow pan\nshots: [{image: shot_1.png, prompt: *p}]\n"), "campaign.yaml",
     "aliases"),
    ("duplicate-key", _manifest("duration: 2\n"), "campaign.yaml", "key 'duration' appears twice"),
    ("duplicate-shot-key", _manifest("shots:\n  - {image: shot_1.png, prompt: a, prompt: b}\n"), "campaign.yaml",
     "key 'prompt' appears twice"),
    ("sexagesimal-ratio", _file("campaign.yaml", b"aspect_ratio: 16:9\n"), "campaign.yaml",
     'put it in quotes: "16:9"'),
    ("latin-1", _file("campaign.yaml", "style: caf\xe9 cr\xe8me\n".encode("latin-1")), "campaign.yaml",
     "not UTF-8 text (byte 0xe9 on line 1)"),
    ("utf-16", _file("campaign.yaml", "style: warm\n".encode("utf-16")), "campaign.yaml", "not UTF-8 text"),
    ("oversized", _file("campaign.yaml", b"# padding\n" * (MAX_MANIFEST_BYTES // 10 + 1)), "campaign.yaml",
     "larger than 256 KiB"),
    ("nested", _file("campaign.yaml", b"style: " + b"[" * 50 + b"]" * 50), "campaign.yaml", "nested deeper than"),
    ("a-list", _file("campaign.yaml", b"- resolution: 480p\n"), "campaign.yaml", "expected a mapping"),
    ("yaml-syntax", _file("campaign.yaml", b"style: [unclosed\n"), "campaign.yaml", "not valid YAML: line 2"),
    ("tab-indent", _file("campaign.yaml", b"deliverable:\n\ttransition: cut\n"), "campaign.yaml", "not valid YAML"),
    ("control-char", _file("campaign.yaml", b"style: warm\x07light\n"), "campaign.yaml", "character #x0007"),
    ("poster-shot", _manifest("  poster: {shot: nosuch}\n"), "campaign.yaml", "poster.shot 'nosuch' is not one"),
    ("long-transition", _file("campaign.yaml", b"duration: 1\ndeliverable: {transition: crossfade, "
                                               b"transition_seconds: 2}\n"), "campaign.yaml", "too short for 2.0 s"),
    ("long-prompt", _manifest(f"shots:\n  - {{image: shot_1.png, prompt: '{'p' * 4200}'}}\n"), "campaign.yaml",
     "over the API's 4096"),
    ("missing-file", _manifest(SHOTS_1_2 + "  - image: gone.png\n"), "campaign.yaml",
     "names files that were not dropped: gone.png"),
    ("duplicate-shot-id", _manifest(SHOTS_1_2 + "  - {image: shot_1.png, id: shot_2}\n"), "campaign.yaml",
     "shot id 'shot_2' is used twice"),
    ("one-stem-two-files", lambda f: (f / "shot_2.jpg").write_bytes(GOOD_JPEG), "shot_2.jpg and shot_2.png",
     "shot id 'shot_2' is used twice"),
    ("end-image-model", _manifest("model: grok-2-video\nshots: [{image: shot_1.png, end_image: shot_2.png}]\n"),
     "campaign.yaml", "pins the last frame"),
    ("zero-duration", _file("campaign.yaml", b"duration: 0\n"), "campaign.yaml", "duration"),
    ("soundtrack-text", lambda f: (_file("music.mp3", b"ID3 not really audio " * 50)(f),
                                   _manifest("  soundtrack: music.mp3\n")(f)), "music.mp3", "not decodable audio"),
    ("soundtrack-image", lambda f: (_file("music.wav", GOOD_PNG)(f), _manifest("  soundtrack: music.wav\n")(f)),
     "music.wav", "soundtrack"),
    ("soundtrack-symlink", lambda f: (_symlink_out("music.mp3", b"x" * 100)(f),
                                      _manifest("  soundtrack: music.mp3\n")(f)), "music.mp3", "symlink leading out"),
    ("manifest-symlink", lambda f: ((f / "campaign.yaml").unlink(), _symlink_out("campaign.yaml", b"duration: 2\n")(f)),
     "campaign.yaml", "symlink leading out"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("case", "build", "file", "expected"), CAMPAIGN_CASES, ids=[c[0] for c in CAMPAIGN_CASES])
def test_a_campaign_that_cannot_run_is_refused_whole_before_anything_is_generated(corpus, case, build, file, expected):
    campaign = f"man-{case}"
    build(write_campaign(corpus.drops, campaign, shots=2, manifest=SMALL_MANIFEST))
    summary = run_campaign(corpus.defs, corpus.instance, campaign, console_log_level="CRITICAL")
    _assert_clear(summary, campaign, expected, None, file)
    assert summary.shots == [] and summary.api_calls == 0
    assert corpus.clip_files() == corpus.clips  # the good clips are kept; nothing was generated
    if "soundtrack" not in case:  # refused before a run: no partition left for the schedule to visit
        assert campaign not in corpus.instance.get_dynamic_partitions("campaigns")


def test_a_drop_with_no_images_is_refused(corpus):
    (corpus.drops / "empty-drop").mkdir()
    (corpus.drops / "empty-drop" / "notes.txt").write_text("no pictures here")
    summary = run_campaign(corpus.defs, corpus.instance, "empty-drop", console_log_level="CRITICAL")
    _assert_clear(summary, "empty-drop", "no images", None, None)


@pytest.mark.parametrize("name", ["spring\n", "Spring", "-spring", "s" * 64, "a b", "../baseline", "über", ""])
def test_a_bad_campaign_id_is_refused_and_registers_nothing(corpus, name):
    summary = run_campaign(corpus.defs, corpus.instance, name, console_log_level="CRITICAL")
    assert summary.status == "failure" and "must match [a-z0-9][a-z0-9_-]{0,62}" in summary.error
    assert name not in corpus.instance.get_dynamic_partitions("campaigns")
    assert corpus.clip_files() == corpus.clips


ENV_CASES = [
    ({"MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS": "many"}, "MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS='many'"),
    ({"MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS": "0"}, "expected a whole number of at least 1"),
    ({"MEDIA_PIPELINE_GENERATOR": "xai"}, "XAI_API_KEY is not set"),
    ({"MEDIA_PIPELINE_GENERATOR": "sora"}, "MEDIA_PIPELINE_GENERATOR='sora': expected 'xai' or 'local'"),
    ({"XAI_API_KEY": "xai-secret\x07key"}, "XAI_API_KEY has a space, control or non-ASCII character at position 11"),
    ({"XAI_API_KEY": "xai-secret-key\n"}, "XAI_API_KEY has a space"),
    ({"MEDIA_PIPELINE_STORE": "s3://"}, "MEDIA_PIPELINE_STORE: no bucket"),
    ({"MEDIA_PIPELINE_SETTLE_SECONDS": "soon"}, "MEDIA_PIPELINE_SETTLE_SECONDS='soon'"),
    ({"MEDIA_PIPELINE_GENERATOR": "xai", "XAI_API_KEY": "k", "XAI_USE_INSECURE_CHANNEL": "maybe"},
     "XAI_USE_INSECURE_CHANNEL='maybe'"),
    ({"DAGSTER_HOME": "{home}/drops/baseline/shot_1.png"}, "cannot hold the Dagster instance (File exists)"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("settings", "expected"), ENV_CASES, ids=[next(iter(c[0])) + str(i) for i, c in
                                                                   enumerate(ENV_CASES)])  # fmt: skip
def test_a_bad_setting_is_a_clean_exit_1_naming_the_variable(corpus, settings, expected):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIA_PIPELINE_", "XAI_"))}
    env |= {"MEDIA_PIPELINE_HOME": str(corpus.home), "DAGSTER_HOME": str(corpus.home / "dagster")}
    env |= {name: value.format(home=corpus.home) for name, value in settings.items()}
    done = subprocess.run([sys.executable, "-m", "media_pipeline.cli", "run", "baseline", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["status"] == "failure" and expected in summary["error"], summary["error"]
    assert "secret" not in summary["error"]  # the key's value is never echoed
    assert corpus.clip_files() == corpus.clips
