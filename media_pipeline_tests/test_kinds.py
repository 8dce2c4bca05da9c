"""The kinds the UI shows match the configured backends: a local pipeline shows no S3 or xAI badge, an S3 store
and the xAI generator show theirs."""

from media_pipeline.definitions import build_defs

from .xai_builders import TEST_API_KEY


def _kinds(environ: dict[str, str]) -> dict[str, set[str]]:
    graph = build_defs(environ).resolve_asset_graph()
    return {key.path[-1]: set(graph.get(key).kinds) for key in graph.get_all_asset_keys()}


def test_a_local_pipeline_shows_no_s3_or_xai_kind_and_a_cloud_one_shows_both(tmp_path):
    local = _kinds({"MEDIA_PIPELINE_HOME": str(tmp_path), "MEDIA_PIPELINE_GENERATOR": "local"})
    assert local["hosted_images"] == {"filesystem"} and local["generated_clips"] == {"ffmpeg"}
    assert not set().union(*local.values()) & {"s3", "xai", "store", "generator"}

    cloud = _kinds(
        {
            "MEDIA_PIPELINE_HOME": str(tmp_path),
            "MEDIA_PIPELINE_STORE": "s3://bucket/store",
            "MEDIA_PIPELINE_GENERATOR": "xai",
            "XAI_API_KEY": TEST_API_KEY,
        }
    )
    assert cloud["hosted_images"] == {"s3"} and cloud["generated_clips"] == {"xai", "ffmpeg"}
