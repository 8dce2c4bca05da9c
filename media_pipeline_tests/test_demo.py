"""The demo sample is written once: a second ``demo`` leaves an unchanged sample untouched (the drop's
fingerprint stays, so the sensor does not run it again) and restores a file someone changed."""

from media_pipeline.demo import DEMO_CAMPAIGN, write_demo_campaign
from media_pipeline.resources.drops import LocalDropZone, drop_fingerprint


def test_an_unchanged_sample_is_not_rewritten_and_a_changed_file_is_restored(tmp_path):
    folder = write_demo_campaign(tmp_path)
    drops = LocalDropZone(root=str(tmp_path))
    first = drop_fingerprint(drops.list_files(DEMO_CAMPAIGN))
    times = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    write_demo_campaign(tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == times
    assert drop_fingerprint(drops.list_files(DEMO_CAMPAIGN)) == first

    original = (folder / "02_product.png").read_bytes()
    (folder / "02_product.png").write_bytes(b"scribbled over")
    write_demo_campaign(tmp_path)
    assert (folder / "02_product.png").read_bytes() == original
