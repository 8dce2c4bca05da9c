"""Issue 9 tried again from outside, as a user would: what that trial found broken, kept fixed.

- A capability the model lacks beyond keyframes (1080p on ``grok-imagine-video``, a duration outside a configured
  range) was not refused before paying: ``estimate`` and ``run`` died with a traceback from the price table.
  Now the campaign is refused once, naming campaign, file and key, and the emulator sees no submit.
- ``end_image`` was judged by a model-name prefix: a model added through ``MEDIA_PIPELINE_XAI_MODELS`` with
  ``last_frame: true`` was refused, one configured without it let through. Now the catalog decides.
- ``MEDIA_PIPELINE_XAI_MODELS`` took negative prices, JSON ``Infinity``/``NaN`` rates and prices, and an alias
  that clashed with another model was refused without naming the variable; ``MEDIA_PIPELINE_XAI_RPS=inf`` was
  taken. Each is now one error naming the variable.
- ``media-pipeline xai-emulator --rps nan`` died with a traceback; negative latencies and URL lifetimes were
  taken; a store the API cannot reach could not be stood in for from the command line (``--no-fetch-urls``).
- A ``MEDIA_PIPELINE_PACING_URL`` with an unknown scheme failed every shot at run time, its first 20 characters
  (a database password, often) in the error, the run's log and ``--json``. Now it is refused with the settings,
  naming the variable and the scheme only.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from media_pipeline.campaign import CampaignError, load_campaign
from media_pipeline.emulator.options import build_parser, config_from_args
from media_pipeline.emulator.server import main as emulator_main
from media_pipeline.resources.xai.catalog import MODELS_ENV, catalog_from_env
from media_pipeline.resources.xai.pacing import PACING_URL_ENV, Pacer
from media_pipeline.settings import ConfigurationError, check_settings

from .builders import write_campaign
from .xai_builders import TEST_API_KEY, xai_cli_env

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

IMAGES = ["a.png", "b.png"]


def _cli(tmp_path, emulator, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = dict(xai_cli_env(tmp_path / "home", emulator), MEDIA_PIPELINE_DROPS=str(tmp_path / "drops"), **env)
    command = [sys.executable, "-m", "media_pipeline.cli", *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=300)


def test_1080p_on_the_base_model_is_refused_by_estimate_and_run_before_any_call(tmp_path, xai_emulator):
    manifest = "model: grok-imagine-video\nresolution: 1080p\nduration: 1\n"
    write_campaign(tmp_path / "drops", "tall", shots=2, size=(160, 90), manifest=manifest)
    expected = "campaign 'tall', file campaign.yaml: key 'resolution': model grok-imagine-video renders 480p, 720p"

    estimate = _cli(tmp_path, xai_emulator, "estimate", "tall")
    assert estimate.returncode == 1 and "Traceback" not in estimate.stderr
    assert expected in estimate.stdout + estimate.stderr

    run = _cli(tmp_path, xai_emulator, "run", "tall", "--json")
    assert run.returncode == 1, run.stderr[-2000:]
    error = json.loads(run.stdout)["error"]
    assert expected in error and error.count("key 'resolution'") == 1  # once, though both shots are 1080p
    assert xai_emulator.count("GenerateVideo") == 0 and xai_emulator.paid_requests == []
    for text in (estimate.stdout, estimate.stderr, run.stdout, run.stderr):
        assert TEST_API_KEY not in text


def test_each_take_model_is_held_to_its_own_catalog_entry(monkeypatch):
    takes = "takes: [{model: grok-imagine-video-1.5}, {model: grok-imagine-video}]\n"
    with pytest.raises(CampaignError, match="key 'resolution': model grok-imagine-video renders"):
        load_campaign("mix", IMAGES, "resolution: 1080p\n" + takes)
    load_campaign("mix", IMAGES, "resolution: 720p\n" + takes)

    monkeypatch.setenv(MODELS_ENV, '{"grok-imagine-video-1.5": {"max_duration": 4}}')
    manifest = "model: grok-imagine-video-1.5\nduration: 4\nshots: [{image: a.png}, {image: b.png, duration: 6}]\n"
    with pytest.raises(CampaignError) as err:
        load_campaign("long", IMAGES, manifest)
    assert "shot 'b', key 'duration': model grok-imagine-video-1.5 makes 1-4 s, not 6" in str(err.value)
    assert "shot 'a'" not in str(err.value)


def test_end_image_follows_the_catalog_not_the_model_name(monkeypatch):
    pinned = "model: {model}\nshots: [{{image: a.png, end_image: b.png}}]\n"
    monkeypatch.setenv(
        MODELS_ENV,
        json.dumps(
            {
                "grok-imagine-video-2": {
                    "usd_per_second": {"480p": 0.1, "720p": 0.2},
                    "usd_per_input_image": 0.01,
                    "last_frame": True,
                },  # fmt: skip
                "grok-imagine-video-1.5-lite": {"last_frame": False},
            }
        ),
    )
    campaign = load_campaign("pin", IMAGES, pinned.format(model="grok-imagine-video-2"))
    assert campaign.shots[0].end_image == "b.png"
    with pytest.raises(CampaignError, match="model 'grok-imagine-video-1.5-lite' does not"):
        load_campaign("pin", IMAGES, pinned.format(model="grok-imagine-video-1.5-lite"))
    with pytest.raises(CampaignError, match="pins the last frame.*model 'no-such-model' does not"):
        load_campaign("pin", IMAGES, pinned.format(model="no-such-model"))


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ('{"grok-imagine-video-1.5": {"usd_per_second": {"480p": -1, "720p": 0.1, "1080p": 0.2}}}',
         "entry 'grok-imagine-video-1.5': usd_per_second.480p: Input should be greater than or equal to 0"),
        ('{"grok-imagine-video-1.5": {"rps": Infinity}}', "entry 'grok-imagine-video-1.5': rps: Input should be"),
        ('{"grok-imagine-video-1.5": {"usd_per_input_image": NaN}}', "usd_per_input_image: Input should be a finite"),
        ('{"grok-imagine-video-1.5": {"aliases": ["grok-imagine-video"]}}',
         "model name 'grok-imagine-video' is given twice"),
    ],
)  # fmt: skip
def test_odd_model_entries_are_one_error_naming_the_variable(entries, expected):
    with pytest.raises(ConfigurationError) as err:
        check_settings({MODELS_ENV: entries})
    assert str(err.value).startswith(MODELS_ENV) and expected in str(err.value)
    with pytest.raises(ValueError, match=MODELS_ENV):
        catalog_from_env({MODELS_ENV: entries})


@pytest.mark.parametrize("value", ["inf", "1e309", "-inf", "nan", "0", "-1", "fast"])
def test_an_unusable_request_rate_names_the_variable(value):
    with pytest.raises(ConfigurationError, match=f"^MEDIA_PIPELINE_XAI_RPS='{value}': expected a number"):
        check_settings({"MEDIA_PIPELINE_XAI_RPS": value})


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--rps", "nan"], "rps must be a number above 0"),
        (["--rps", "inf"], "rps must be a number above 0"),
        (["--latency", "-5"], "latency_seconds must be a number of at least 0"),
        (["--batch-url-ttl", "-1"], "batch_url_ttl_seconds must be a number of at least 0"),
    ],
)
def test_the_emulator_refuses_odd_options_without_a_traceback(argv, expected, capsys):
    assert emulator_main(argv) == 2
    assert expected in capsys.readouterr().err


def test_the_emulator_stands_in_for_a_store_the_api_cannot_reach():
    assert config_from_args(build_parser().parse_args(["--no-fetch-urls"]), {}).fetch_urls is False
    assert config_from_args(build_parser().parse_args([]), {}).fetch_urls is True


@pytest.mark.parametrize("url", ["mysql://pacer:hunter2-pass@db/pacing", "pacer:hunter2-pass@db/pacing"])
def test_a_bad_pacing_url_is_refused_before_a_run_without_its_password(url):
    with pytest.raises(ConfigurationError) as err:
        check_settings({PACING_URL_ENV: url})
    assert str(err.value).startswith(f"{PACING_URL_ENV}: expected sqlite:///path or postgresql://")
    assert "hunter2" not in str(err.value)
    with pytest.raises(ValueError) as err:
        Pacer(url)
    assert PACING_URL_ENV in str(err.value) and "hunter2" not in str(err.value)
