"""``create_exclusive`` and ``size`` on the folder store and on SeaweedFS: exactly one of many racing creators
wins, the loser leaves the winner's bytes alone, and a missing object has no size."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from media_pipeline.resources.store import MediaStore


def test_only_one_of_sixteen_racing_creators_wins(store: MediaStore) -> None:
    for round_ in range(3):
        key = f"claims/race/{round_}.json"
        with ThreadPoolExecutor(16) as pool:
            won = list(pool.map(lambda i, k=key: store.create_exclusive(k, f"writer {i}".encode()), range(16)))
        assert won.count(True) == 1
        assert store.get_bytes(key) == f"writer {won.index(True)}".encode()


def test_an_existing_object_is_left_as_it_was(store: MediaStore) -> None:
    store.put_bytes("claims/k.json", b"first")
    assert store.create_exclusive("claims/k.json", b"second") is False
    assert store.get_bytes("claims/k.json") == b"first"
    assert store.size("claims/k.json") == 5 and store.size("claims/none.json") is None
    assert store.list_keys("claims/") == ["claims/k.json"]  # no temporary file left behind
