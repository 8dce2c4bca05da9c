"""The model catalog against the installed SDK's own facts, its prices, capabilities and configuration."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

import pytest
from xai_sdk.types import VideoGenerationModel
from xai_sdk.types.video import VideoAspectRatio, VideoAspectRatioMap, VideoResolution

from media_pipeline.resources.xai import catalog as catalog_module
from media_pipeline.resources.xai.catalog import (
    ASPECT_RATIO_NAMES,
    MODELS_ENV,
    RESOLUTIONS,
    ModelCatalog,
    ModelSpec,
    UnknownModel,
    catalog_from_env,
    default_catalog,
)


def test_every_video_model_the_sdk_names_is_known_and_the_lite_and_preview_names_too() -> None:
    catalog = default_catalog()
    for model in typing.get_args(VideoGenerationModel):
        assert catalog.get(model).id == model
    assert catalog.get("grok-imagine-video-1.5-preview").id == "grok-imagine-video-1.5"
    assert catalog.get("grok-imagine-video-1.5-lite").id == "grok-imagine-video-1.5-lite"


def test_resolutions_and_aspect_ratios_are_the_sdks() -> None:
    assert set(RESOLUTIONS) == set(typing.get_args(VideoResolution))
    assert set(ASPECT_RATIO_NAMES.values()) == set(typing.get_args(VideoAspectRatio))
    assert ASPECT_RATIO_NAMES[VideoAspectRatioMap["9:16"]] == "9:16"


def test_an_unknown_model_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownModel) as err:
        default_catalog().get("grok-imagine-vidoe")
    message = str(err.value)
    assert "'grok-imagine-vidoe'" in message
    for name in ("grok-imagine-video,", "grok-imagine-video-1.5 (alias grok-imagine-video-1.5-preview)", "-1.5-lite"):
        assert name in message


def test_prices_per_second_by_resolution_per_input_image_and_in_batch() -> None:
    v15 = default_catalog().get("grok-imagine-video-1.5-preview")
    assert v15.price_usd(duration=5, resolution="720p", input_images=2) == pytest.approx(5 * 0.14 + 2 * 0.01)
    assert v15.price_usd(duration=1, resolution="480p") == pytest.approx(0.09)
    assert v15.price_usd(duration=1, resolution="480p", batch=True) == pytest.approx(0.09 * v15.batch_price_factor)
    with pytest.raises(ValueError, match="1080p"):
        default_catalog().get("grok-imagine-video").price_usd(duration=1, resolution="1080p")


@pytest.mark.parametrize(
    ("model", "request_", "problem"),
    [
        ("grok-imagine-video", {"last_frame": True}, "cannot pin a last frame"),
        ("grok-imagine-video", {"keyframes": 1}, "keyframes: grok-imagine-video accepts none"),
        ("grok-imagine-video", {"resolution": "1080p"}, "renders 480p, 720p"),
        ("grok-imagine-video-1.5", {"keyframes": 5}, "at most 4, got 5"),
        ("grok-imagine-video-1.5", {"duration": 16}, "makes 1-15 seconds"),
    ],
)
def test_a_capability_the_model_lacks_is_named(model: str, request_: dict, problem: str) -> None:
    settings = {"duration": 5, "resolution": "720p", **request_}
    problems = default_catalog().get(model).problems(**settings)
    assert len(problems) == 1 and problem in problems[0]


def test_what_a_model_can_do_has_no_problems() -> None:
    v15 = default_catalog().get("grok-imagine-video-1.5")
    assert v15.problems(duration=15, resolution="1080p", last_frame=True, keyframes=4, reference_images=2) == []


def test_configuration_changes_a_model_by_alias_and_adds_one_without_code() -> None:
    catalog = default_catalog().merged(
        {
            "grok-imagine-video-1.5-preview": {"usd_per_second": {"480p": 0.1, "720p": 0.2, "1080p": 0.3}, "rps": 2},
            "grok-imagine-video-2": {
                "usd_per_second": {"480p": 0.2, "720p": 0.3},
                "usd_per_input_image": 0,
                "last_frame": True,
            },
        }
    )
    v15 = catalog.get("grok-imagine-video-1.5-preview")
    assert (v15.id, v15.usd_per_second["720p"], v15.rps, v15.aliases) == (
        "grok-imagine-video-1.5",
        0.2,
        2,
        ("grok-imagine-video-1.5-preview",),
    )
    assert catalog.get("grok-imagine-video-2").price_usd(duration=2, resolution="720p") == pytest.approx(0.6)
    assert default_catalog().get("grok-imagine-video-1.5").usd_per_second["720p"] == 0.14  # built-ins untouched


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["grok"]', "must be a JSON object"),
        ('{"new-model": {"rps": 1}}', "entry 'new-model': usd_per_second"),
        ('{"grok-imagine-video": {"max_resolution": "4k"}}', "entry 'grok-imagine-video': max_resolution"),
        ('{"grok-imagine-video": {"aliases": ["grok-imagine-video-1.5-preview"]}}', "given twice"),
    ],
)
def test_bad_configuration_names_the_variable_or_the_entry(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        catalog_from_env({MODELS_ENV: raw})
    assert "MEDIA_PIPELINE_XAI_MODELS" in str(err.value) or "given twice" in message


def test_configuration_from_the_environment() -> None:
    assert catalog_from_env({}).get("grok-imagine-video").id == "grok-imagine-video"
    env = {MODELS_ENV: json.dumps({"grok-imagine-video": {"usd_per_input_image": 0.5}})}
    assert catalog_from_env(env).get("grok-imagine-video").usd_per_input_image == 0.5


def test_a_spec_without_a_price_for_a_resolution_it_renders_is_refused() -> None:
    with pytest.raises(ValueError, match="no price per second for 1080p"):
        ModelSpec(id="m", usd_per_second={"480p": 1, "720p": 1}, usd_per_input_image=0, max_resolution="1080p")
    with pytest.raises(ValueError, match="given twice"):
        ModelCatalog([default_catalog().get("grok-imagine-video")] * 2)


def test_the_catalog_imports_no_dagster() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('catalog', {catalog_module.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "assert module.default_catalog().get('grok-imagine-video-1.5-preview')\n"
        "assert 'dagster' not in sys.modules, 'dagster imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
