"""Manifest validation: defaults, ranges, unknown keys by name, missing files by name, shots without a manifest."""

import tracemalloc

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
        ("shots: [{image: a.jpg, duration: 20}]", "shot 'a', key 'duration'"),
        ("shots: [{id: hero, chain: true, colour: red}]", "shot 'hero', unknown key 'colour'"),
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


def test_two_files_with_one_stem_are_refused_naming_both_files():
    with pytest.raises(CampaignError) as err:
        load_campaign("spring", ["prod.jpg", "prod.png", "x.png"], None)
    assert "campaign 'spring'" in str(err.value) and "prod.jpg and prod.png" in str(err.value)
    with pytest.raises(CampaignError, match="Prod.jpg and prod.png"):  # one key on a case-insensitive store
        load_campaign("spring", ["Prod.jpg", "prod.png"], None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deliverable: {poster: {shot: nosuch}}", "deliverable.poster.shot 'nosuch' is not one of the shots"),
        ("duration: 1\ndeliverable: {transition: crossfade, transition_seconds: 1.5}", "too short for 1.5 s"),
        ("shots: [{image: a.jpg, prompt: '" + "p" * 4000 + "'}]\nstyle: '" + "s" * 200 + "'", "over the API's 4096"),
        ("aspect_ratio: 16:9", 'put it in quotes: "16:9"'),
        ("deliverable: {renditions: [9:16]}", 'put it in quotes: "9:16"'),
        ("duration: 3\nduration: 4", "key 'duration' appears twice"),
        ("shots:\n  - {image: a.jpg, prompt: x, prompt: y}", "key 'prompt' appears twice"),
        ("style: &s warm\nshots: [{image: a.jpg, prompt: *s}]", "YAML aliases (*s) are not allowed"),
        ("style: " + "[" * 40 + "]" * 40, "nested deeper than"),
        ("duration: " + "9" * 5000, "line 1: '999"),
        ("when: 2001-13-45", "'2001-13-45' cannot be read (month must be in 1..12)"),
    ],
)
def test_what_would_fail_after_paying_is_refused_at_load(text, expected):
    with pytest.raises(CampaignError) as err:
        load_campaign("spring", IMAGES, text)
    assert "campaign 'spring'" in str(err.value) and expected in str(err.value)


def test_a_middle_shot_needs_two_transitions_the_ends_one():
    text = "deliverable: {transition: fade_black, transition_seconds: 0.75}\nduration: 1"
    with pytest.raises(CampaignError) as err:
        load_campaign("spring", IMAGES, text)
    assert "shot 'b'" in str(err.value) and "shot 'a'" not in str(err.value) and "shot 'c'" not in str(err.value)


def test_the_alias_bomb_is_refused_without_expanding_it():
    levels = [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = "\n".join(levels)
    assert len(bomb) < 1024
    tracemalloc.start()
    try:
        with pytest.raises(CampaignError, match="aliases") as err:
            load_campaign("spring", IMAGES, bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20 and len(str(err.value)) < 300


def test_error_messages_do_not_grow_with_their_input():
    huge_key = "k" * 100_000
    many = "shots:\n" + "".join(f"  - {{image: a.jpg, id: 'bad id {i}'}}\n" for i in range(2000))
    for text in (f"{huge_key}: 1", many, f"style: 1\n{huge_key}: 1\n{huge_key}: 2"):
        with pytest.raises(CampaignError) as err:
            load_campaign("spring", IMAGES, text)
        assert len(str(err.value)) < 1000


@pytest.mark.parametrize("name", ["spring\n", "spring\n\n", " spring", "spr/ing"])
def test_campaign_ids_are_matched_whole(name):
    with pytest.raises(CampaignError, match="must match"):
        check_campaign_id(name)


def test_an_image_in_a_format_the_pipeline_does_not_take_is_a_shot_to_refuse_by_name():
    campaign = load_campaign("spring", ["a.png", "b.heic", "notes.txt"], None)
    assert [s.image for s in campaign.shots] == ["a.png", "b.heic"]


def test_a_manifest_naming_thousands_of_missing_files_gets_a_short_message():
    text = "shots:\n" + "".join(f"  - image: {'x' * 200}{i}.png\n" for i in range(3000))
    with pytest.raises(CampaignError, match="names files that were not dropped: .* and 2995 more") as err:
        load_campaign("spring", IMAGES, text)
    assert len(str(err.value)) < 1000
