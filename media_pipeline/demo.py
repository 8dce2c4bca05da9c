"""The sample campaign ``media-pipeline demo`` drops: four generated product stills and a manifest.

The images are drawn here with Pillow so the demo needs no download and no key. Pillow's PNG output is the same
bytes every time, so an unchanged sample is not rewritten.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

DEMO_CAMPAIGN = "demo"
DEMO_SIZE = (960, 540)

DEMO_MANIFEST = """\
# The demo campaign: four shots of a product launch, cross-faded into one 16:9 cut.
model: grok-imagine-video-1.5-preview
resolution: 480p
duration: 2
aspect_ratio: "16:9"
style: warm studio light, shallow depth of field
shots:
  - image: 01_sunrise.png
    prompt: slow push-in on the horizon
  - image: 02_product.png
    prompt: pan right across the bottle
  - image: 03_detail.png
    prompt: tilt up over the label
  - image: 04_logo.png
    prompt: pull back to reveal the logo
deliverable:
  transition: crossfade
  transition_seconds: 0.5
  renditions: ["16:9"]
  audio: keep
"""

_PALETTES = [
    ((255, 170, 90), (60, 30, 90)),
    ((40, 120, 200), (10, 20, 50)),
    ((230, 230, 220), (120, 110, 100)),
    ((20, 160, 120), (5, 40, 40)),
]


def _still(index: int) -> Image.Image:
    """A gradient with shapes and a label: enough structure for SSIM checks and visible camera moves."""
    width, height = DEMO_SIZE
    top, bottom = _PALETTES[index]
    image = Image.new("RGB", DEMO_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    cx, cy = width // 2 + (index - 1.5) * 120, height // 2
    draw.ellipse([cx - 110, cy - 110, cx + 110, cy + 110], fill=(250, 240, 200), outline=(30, 30, 30), width=6)
    draw.rectangle([cx - 40, cy - 160, cx + 40, cy + 160], fill=(40, 40, 60), outline=(230, 230, 230), width=4)
    for i in range(12):
        x = 40 + i * 75
        draw.polygon([(x, height), (x + 37, height - 60 - 20 * (i % 3)), (x + 75, height)], fill=(25, 25, 35))
    draw.text((30, 24), f"media_pipeline demo - shot {index + 1}", fill=(255, 255, 255))
    return image


def _write_if_changed(path: Path, content: bytes) -> None:
    """Write ``content`` unless the file already holds exactly it (its time stays, so the drop stays unchanged)."""
    if not path.is_file() or path.read_bytes() != content:
        path.write_bytes(content)


def write_demo_campaign(drops_root: Path) -> Path:
    """Write the demo campaign folder under ``drops_root`` and return the folder.

    Files that already hold the sample are left alone, so a second ``make demo`` does not change the drop and the
    sensor does not run it again.
    """
    folder = drops_root / DEMO_CAMPAIGN
    folder.mkdir(parents=True, exist_ok=True)
    names = ["01_sunrise.png", "02_product.png", "03_detail.png", "04_logo.png"]
    for index, name in enumerate(names):
        encoded = io.BytesIO()
        _still(index).save(encoded, format="PNG")
        _write_if_changed(folder / name, encoded.getvalue())
    _write_if_changed(folder / "campaign.yaml", DEMO_MANIFEST.encode())
    return folder
