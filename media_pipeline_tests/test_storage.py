"""LocalMediaStore: atomic writes, content-addressed skips, data: fetch URLs, safe keys."""

import base64

import pytest

from media_pipeline.resources.store import LocalMediaStore, StoreError


def test_put_stream_failure_or_overflow_stores_nothing_and_keeps_the_old_object(tmp_path):
    store = LocalMediaStore(root=str(tmp_path))
    store.put_bytes("clips/a.mp4", b"old")

    def broken():
        yield b"new bytes"
        raise ConnectionError("peer went away")

    with pytest.raises(StoreError, match="clips/a.mp4.*peer went away"):
        store.put_stream("clips/a.mp4", broken(), max_bytes=100)
    with pytest.raises(StoreError, match="limit"):
        store.put_stream("clips/a.mp4", [b"x" * 60, b"x" * 60], max_bytes=100)
    assert store.get_bytes("clips/a.mp4") == b"old"
    assert store.list_keys("clips/") == ["clips/a.mp4"]  # no temp files left


def test_content_addressed_put_skips_and_fetch_url_embeds_the_bytes(tmp_path):
    store = LocalMediaStore(root=str(tmp_path / "store"))
    source = tmp_path / "img.png"
    source.write_bytes(b"png-bytes")
    assert store.put_file("sources/abc.png", source, skip_if_exists=True) is True
    assert store.put_file("sources/abc.png", source, skip_if_exists=True) is False
    url = store.fetch_url("sources/abc.png", 60)
    assert url == "data:image/png;base64," + base64.b64encode(b"png-bytes").decode()
    assert store.url_ttl_seconds is None


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", ""])
def test_keys_cannot_escape_the_store(tmp_path, key):
    with pytest.raises(ValueError, match="invalid store key"):
        LocalMediaStore(root=str(tmp_path)).put_bytes(key, b"x")
