"""Manifest validation: defaults, ranges, unknown keys by name, missing files by name, shots without a manifest."""

import pytest

from media_pipeline.campaign import CampaignError, check_campaign_id, load_campaign, parse_manifest

IMAGES = ["b.png", "a.jpg", "c.webp", "notes.txt"]


def test_no_manifest_makes_every_image_a_shot_in_file_name_order():
    campaign = load_campaign("spring", IMAGES, None)
    assert [s.shot_id for s in campaign.shots] == ["a", "b", "c"]
    assert campaign.manifest.resolution == "720p" and campaign.manifest.duration == 5
    assert all(s.duration == 5 for s in campaign.shots)


def test_manifest_defaults_and_per_shot_overrides_apply():
    text = """
resolution: 1080p
duration: 4
aspect_ratio: "9:16"
style: film grain
shots:
  - {image: b.png, prompt: push in}
  - {image: a.jpg, prompt: pan left, duration: 8, chain: true}
"""
    campaign = load_campaign("spring", IMAGES, text)
    assert [(s.shot_id, s.duration, s.chain) for s in campaign.shots] == [("b", 4, False), ("a", 8, True)]
    assert campaign.full_prompt(campaign.shots[0]) == "push in. film grain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour: red", "unknown key 'colour'"),
        ("deliverable: {transitions: cut}", "unknown key 'deliverable.transitions'"),
        ("duration: 16", "duration"),
        ("duration: 0", "duration"),
        ("resolution: 4k", "resolution"),
        ("aspect_ratio: '5:4'", "aspect_ratio"),
        ("shots: [{image: a.jpg, duration: 20}]", "shots.0.duration"),
        ("shots: [{image: a.jpg, chain: true}]", "no previous clip"),
        ("model: other-model\nshots: [{image: a.jpg, end_image: b.png}]", "pins the last frame"),
        ("shots: [{image: a.jpg}, {image: a.jpg}]", "used twice"),
        ("shots: [{prompt: no image}]", "needs an 'image' unless it is chained"),
        ("shots: [{image: a.jpg}, {chain: true}]", "needs an 'id'"),
        ("deliverable: {renditions: ['16:9', '16:9']}", "must not repeat"),
        ("- just\n- a list", "expected a mapping"),
        ("key: [unclosed", "not valid YAML"),
    ],
)
def test_bad_manifests_are_rejected_naming_campaign_file_and_key(text, expected):
    with pytest.raises(CampaignError) as err:
        load_campaign("spring", IMAGES, text)
    message = str(err.value)
    assert "campaign 'spring'" in message and "campaign.yaml" in message
    assert expected in message


def test_listed_but_missing_images_are_reported_by_name():
    text = "shots: [{image: a.jpg}, {image: gone.png}, {image: b.png, end_image: lost.png}]"
    with pytest.raises(CampaignError, match="gone.png, lost.png"):
        load_campaign("spring", IMAGES, text)


def test_a_campaign_without_images_is_refused():
    with pytest.raises(CampaignError, match="no images"):
        load_campaign("empty", ["readme.txt"], None)


@pytest.mark.parametrize("name", ["Spring", "-x", "a b", "x" * 64, "über"])
def test_campaign_ids_must_be_folder_safe(name):
    with pytest.raises(CampaignError, match="must match"):
        check_campaign_id(name)


def test_a_chained_shot_needs_no_image_of_its_own():
    campaign = load_campaign("spring", IMAGES, "shots: [{image: a.jpg}, {id: after, chain: true}]")
    assert [(s.shot_id, s.image, s.chain) for s in campaign.shots] == [("a", "a.jpg", False), ("after", None, True)]
    assert campaign.referenced_files() == ["a.jpg"]


def test_pinned_end_image_is_accepted_on_the_grok_1_5_family():
    manifest = parse_manifest("c", "model: grok-imagine-video-1.5\nshots: [{image: a.jpg, end_image: b.png}]")
    assert manifest.shots[0].end_image == "b.png"
