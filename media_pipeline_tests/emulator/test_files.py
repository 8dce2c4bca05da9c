"""The emulator's Files service through the real SDK: upload, check, list, delete; file ids wherever a video
request carries images; an emulator told it cannot reach URLs refusing them; batch input files."""

from __future__ import annotations

import grpc
import pytest

from media_pipeline_tests.emulator.sdk import FAST, sdk_client, video_args
from media_pipeline_tests.xai_builders import image_bytes

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


def test_upload_check_list_delete_and_a_video_made_from_file_ids(xai_emulator_factory):
    emulator = xai_emulator_factory(fetch_urls=False)
    client = sdk_client(emulator)
    try:
        first = client.files.upload(image_bytes((200, 60, 40)), filename="first.png")
        last = client.files.upload(image_bytes((40, 60, 200)), filename="last.png")
        assert client.files.get(first.id).filename == "first.png" and first.size == len(image_bytes((200, 60, 40)))
        assert {f.id for f in client.files.list().data} == {first.id, last.id}

        args = video_args(image_url=None, image_file_id=first.id, last_frame_file_id=last.id,
                          reference_image_file_ids=[first.id])  # fmt: skip
        video = client.video.generate(interval=FAST, **args)
        assert video.url
        assert emulator.count("image_input", "file_id") == 3 and emulator.count("image_input", "url") == 0

        assert client.files.delete(last.id).deleted
        with pytest.raises(grpc.RpcError) as gone:
            client.files.get(last.id)
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as unknown:  # a request naming a file xAI does not hold: refused
            client.video.start(**args)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert len(emulator.paid_requests) == 1

        url = f"{emulator.http_base}/_stats"  # a loopback URL it would fetch, were it allowed to
        with pytest.raises(grpc.RpcError) as unreachable:
            client.video.start(**video_args(image_url=url))
        assert unreachable.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "could not fetch image URL" in unreachable.value.details()
        assert emulator.count("image_input", "url") == 1
    finally:
        client.close()


def test_a_batch_from_an_input_file_names_the_file_or_is_not_found(xai_emulator):
    client = sdk_client(xai_emulator)
    try:
        with pytest.raises(grpc.RpcError) as missing:
            client.batch.create("nightly", input_file_id="file-nope")
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        uploaded = client.files.upload(b'{"batch_request_id": "a"}\n', filename="requests.jsonl")
        with pytest.raises(grpc.RpcError) as unsupported:
            client.batch.create("nightly", input_file_id=uploaded.id)
        assert unsupported.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "AddBatchRequests" in unsupported.value.details()
    finally:
        client.close()
