"""The code location loads, and the environment picks the resources the README says it does."""

import pytest
from dagster import Definitions

from media_pipeline import defs
from media_pipeline.definitions import build_defs, drops_from_env, generator_from_env, store_from_env
from media_pipeline.resources.generator import LocalVideoGenerator
from media_pipeline.resources.s3.drops import S3DropZone
from media_pipeline.resources.s3.store import S3MediaStore
from media_pipeline.resources.store import LocalMediaStore
from media_pipeline.settings import ConfigurationError


def test_definitions_validate_loadable():
    Definitions.validate_loadable(defs)
    assert {a.key.to_user_string() for a in defs.resolve_all_asset_specs()} == {
        "source_images",
        "hosted_images",
        "generated_clips",
        "deliverable",
    }


def test_environment_selects_local_store_and_generator_by_default(tmp_path):
    env = {"MEDIA_PIPELINE_HOME": str(tmp_path)}
    store = store_from_env(env)
    assert isinstance(store, LocalMediaStore) and store.root == str(tmp_path / "store")
    assert isinstance(generator_from_env(env), LocalVideoGenerator)
    Definitions.validate_loadable(build_defs(env))


def test_xai_generator_is_chosen_when_a_key_is_set_and_the_key_stays_an_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", "xai-secret-for-test")
    env = {"XAI_API_KEY": "xai-secret-for-test", "MEDIA_PIPELINE_HOME": str(tmp_path)}
    generator = generator_from_env(env)
    assert generator.kind == "xai"
    assert "xai-secret-for-test" not in repr(generator.model_dump())


def test_s3_locations_select_the_s3_store_and_drop_zone(tmp_path):
    env = {
        "MEDIA_PIPELINE_HOME": str(tmp_path),
        "MEDIA_PIPELINE_STORE": "s3://media/pipeline/",
        "MEDIA_PIPELINE_DROPS": "s3://drops",
    }
    store, drops = store_from_env(env), drops_from_env(env)
    assert isinstance(store, S3MediaStore) and (store.bucket, store.prefix) == ("media", "pipeline")
    assert isinstance(drops, S3DropZone) and (drops.bucket, drops.prefix) == ("drops", "")
    assert store.uri("clips/a.mp4") == "s3://media/pipeline/clips/a.mp4"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS": "-2"}, "MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS='-2'"),
        ({"MEDIA_PIPELINE_SETTLE_SECONDS": "nan"}, "MEDIA_PIPELINE_SETTLE_SECONDS='nan'"),
        ({"MEDIA_PIPELINE_XAI_RPS": "0"}, "MEDIA_PIPELINE_XAI_RPS='0'"),
        ({"MEDIA_PIPELINE_DROPS": "s3:///prefix"}, "MEDIA_PIPELINE_DROPS: no bucket"),
        ({"MEDIA_PIPELINE_GENERATOR": "xai", "XAI_API_KEY": ""}, "XAI_API_KEY is not set"),
        ({"XAI_API_KEY": "xai-ключ"}, "XAI_API_KEY has a space, control or non-ASCII character at position 5 of 8"),
    ],
)
def test_a_setting_the_pipeline_cannot_use_names_its_variable(tmp_path, settings, expected):
    with pytest.raises(ConfigurationError) as err:
        build_defs({"MEDIA_PIPELINE_HOME": str(tmp_path), **settings})
    assert expected in str(err.value)
    assert "ключ" not in str(err.value)  # a key's value is never echoed
