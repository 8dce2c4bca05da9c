"""The xAI settings read by batch mode and the model catalog are checked when the definitions load, naming the
variable (and for the catalog the entry and field), not mid-run after a batch was created."""

import pytest

from media_pipeline.definitions import build_defs
from media_pipeline.settings import ConfigurationError


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "-1", "MEDIA_PIPELINE_BATCH_WAIT_SECONDS='-1': expected a number"),
        ("MEDIA_PIPELINE_BATCH_POLL_SECONDS", "soon", "MEDIA_PIPELINE_BATCH_POLL_SECONDS='soon': expected a number"),
        ("MEDIA_PIPELINE_XAI_MODELS", '{"grok-imagine-video": {"rps": 0}}', "entry 'grok-imagine-video': rps"),
        ("MEDIA_PIPELINE_XAI_MODELS", "{not json", "MEDIA_PIPELINE_XAI_MODELS is not valid JSON"),
    ],
)
def test_a_bad_batch_or_catalog_setting_stops_the_definitions_naming_it(tmp_path, name, value, expected):
    environ = {"MEDIA_PIPELINE_HOME": str(tmp_path), "MEDIA_PIPELINE_GENERATOR": "local", name: value}
    with pytest.raises(ConfigurationError) as refused:
        build_defs(environ)
    assert expected in str(refused.value)
