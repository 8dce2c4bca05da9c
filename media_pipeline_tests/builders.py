"""Builders for test campaigns: small structured images (so SSIM means something) and manifests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw


def sample_image(seed: int, size: tuple[int, int] = (320, 180)) -> Image.Image:
    """A gradient with a few shapes, different for every ``seed``."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
    tint = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
    image = Image.fromarray((base * tint).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = int(rng.integers(0, width - 60)), int(rng.integers(0, height - 60))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse([x, y, x + 50, y + 50], fill=colour, outline=(0, 0, 0), width=3)
    return image


def write_campaign(
    drops_root: Path, campaign: str, shots: int = 3, manifest: str | None = None, size: tuple[int, int] = (320, 180)
) -> Path:
    """Write ``shots`` PNGs (``shot_1.png`` ...) and an optional manifest into ``<drops_root>/<campaign>``."""
    folder = drops_root / campaign
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(shots):
        sample_image(index, size).save(folder / f"shot_{index + 1}.png")
    if manifest is not None:
        (folder / "campaign.yaml").write_text(manifest, encoding="utf-8")
    return folder


SMALL_MANIFEST = """\
resolution: 480p
duration: 1
aspect_ratio: "16:9"
style: soft light
deliverable:
  transition: crossfade
  transition_seconds: 0.25
"""


def change_deliverable_spec(folder: Path) -> None:
    """Give the campaign in ``folder`` another transition length, so its next run makes a new deliverable set
    (a re-run of an unchanged campaign takes its current set as it is: ``assets/delivery_reuse.py``)."""
    path = folder / "campaign.yaml"
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    deliverable = manifest.setdefault("deliverable", {})
    deliverable["transition_seconds"] = round(deliverable.get("transition_seconds", 0.5) + 0.05, 2)
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")


def local_cli_env(home: Path) -> dict[str, str]:
    """The environment of a user running ``media-pipeline`` offline with everything under ``home``."""
    env = dict(
        os.environ,
        MEDIA_PIPELINE_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        TMPDIR=str(home),
        MEDIA_PIPELINE_GENERATOR="local",
    )
    env.pop("XAI_API_KEY", None)
    return env
