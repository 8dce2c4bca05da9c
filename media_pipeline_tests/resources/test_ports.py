"""The ports (store, drop zone, generator) are ``abc.ABC``s: a port alone cannot be made, and every twin implements
all of its abstract methods."""

from __future__ import annotations

import pytest

from media_pipeline.resources.drops import DropZone, LocalDropZone
from media_pipeline.resources.generator import LocalVideoGenerator, VideoGenerator
from media_pipeline.resources.s3.drops import S3DropZone
from media_pipeline.resources.s3.store import S3MediaStore
from media_pipeline.resources.store import LocalMediaStore, MediaStore
from media_pipeline.resources.xai.generator import XaiVideoGenerator


@pytest.mark.parametrize("port", [MediaStore, DropZone, VideoGenerator])
def test_a_port_alone_cannot_be_made(port):
    assert port.__abstractmethods__
    with pytest.raises(TypeError, match="abstract"):
        port()


@pytest.mark.parametrize(
    ("twin", "port"),
    [
        (LocalMediaStore, MediaStore),
        (S3MediaStore, MediaStore),
        (LocalDropZone, DropZone),
        (S3DropZone, DropZone),
        (LocalVideoGenerator, VideoGenerator),
        (XaiVideoGenerator, VideoGenerator),
    ],
)
def test_every_twin_implements_its_port(twin, port):
    assert issubclass(twin, port) and not twin.__abstractmethods__
