"""catalog_feed: campaign ids from skus, merge fields, and bad rows refused by row number and column (no Dagster)."""

import json

import pytest
import yaml

from media_pipeline.campaign import is_campaign_id, load_campaign
from media_pipeline.catalog_feed import CatalogProblem, campaign_id_for, parse_catalog

TEMPLATE = b"""\
resolution: 480p
duration: 1
style: studio light
shots:
  - image: "{image}"
    id: hero
    prompt: "slow push-in on the {color} {title}"
"""
FILES = {"catalog.csv", "campaign.yaml", "red.png", "blue.jpg"}


def _no_url(url: str) -> str | None:
    return None if url.startswith("https://") else f"refusing to fetch {url}: only https"


def _parse(text: str, name: str = "catalog.csv", template: bytes | None = TEMPLATE):
    return parse_catalog("shoes", name, text.encode(), template, FILES, _no_url)


def test_campaign_ids_are_lower_case_mapped_and_capped_and_stay_valid():
    assert campaign_id_for("shoes", "AB 12/Red") == "shoes-ab-12-red"
    assert campaign_id_for("shoes", "Crème_9") == "shoes-cr-me_9"
    long_a, long_b = campaign_id_for("shoes", "x" * 80 + "a"), campaign_id_for("shoes", "x" * 80 + "b")
    assert len(long_a) == len(long_b) == 63 and long_a != long_b
    assert all(is_campaign_id(i) for i in (long_a, long_b, campaign_id_for("s" * 63, "1")))


def test_each_row_renders_the_template_with_its_merge_fields_into_a_manifest_that_loads():
    catalog = _parse("sku,title,color,image,price\nAB 12,Runner,red,red.png,80\nB7,Boot: tall,blue,blue.jpg,95\n")
    assert list(catalog.rows) == ["shoes-ab-12", "shoes-b7"]
    boot = catalog.rows["shoes-b7"]
    assert boot.number == 3 and boot.error is None
    assert [(i.column, i.name, i.file) for i in boot.images] == [("image", "image.jpg", "blue.jpg")]
    campaign = load_campaign("shoes-b7", ["image.jpg"], catalog.manifest(boot))
    assert campaign.full_prompt(campaign.shots[0]) == "slow push-in on the blue Boot: tall. studio light"
    assert campaign.shots[0].image == "image.jpg" and campaign.manifest.resolution == "480p"


def test_bad_rows_are_refused_by_row_and_column_and_the_others_go_on():
    catalog = _parse(
        "sku,title,color,image\n"
        "ok,Runner,red,red.png\n"
        "gone,Runner,red,missing.png\n"
        "web,Runner,red,http://cdn.example.com/x.png\n"
        "nocolor,Runner,,red.png\n"
        ",Runner,red,red.png\n"
        "wide,Runner,red,red.png,extra\n"
    )
    errors = {campaign: row.error for campaign, row in catalog.rows.items()}
    assert errors["shoes-ok"] is None
    assert "row 3, column 'image': 'missing.png' was not dropped beside the catalog" in errors["shoes-gone"]
    assert "row 4, column 'image': refusing to fetch http://cdn.example.com/x.png" in errors["shoes-web"]
    assert "row 5, column 'color': empty, and the template uses {color}" in errors["shoes-nocolor"]
    assert [p.split("catalog.csv, ")[1] for p in catalog.unnamed] == [
        "row 6, column 'sku': empty; the row is skipped",
        "row 7, column 5: a cell beyond the header's 4 columns; the row is skipped",
    ]


def test_jsonl_rows_may_differ_and_a_missing_merge_field_is_named():
    rows = [
        {"sku": "a1", "title": "Runner", "color": "red", "image": "red.png"},
        {"sku": "a2", "title": "Runner", "colour": "red", "image": "red.png"},
        {"sku": 7, "title": "Boot", "color": "tan", "image": "https://cdn.example.com/boot?w=800"},
        {"sku": "a4", "title": {"en": "nested"}},
    ]
    text = "\n".join(json.dumps(r) for r in rows) + "\nnot json\n"
    catalog = _parse(text, "catalog.jsonl")
    assert catalog.rows["shoes-a1"].error is None
    assert "row 2, column 'color': missing, and the template uses {color}" in catalog.rows["shoes-a2"].error
    url = catalog.rows["shoes-7"].images[0]
    assert (url.name, url.url) == ("image.jpg", "https://cdn.example.com/boot?w=800")
    assert "row 4, column 'title': a nested value" in catalog.unnamed[0]
    assert "row 5, not a JSON object" in catalog.unnamed[1]


def test_two_rows_mapping_to_one_id_are_refused_by_row_number():
    catalog = _parse("sku,title,color,image\nAB 12,a,red,red.png\nx,b,red,red.png\nab-12,c,red,red.png\n")
    assert "rows 2, 4, column 'sku': all map to campaign id 'shoes-ab-12'" in catalog.rows["shoes-ab-12"].error
    assert catalog.rows["shoes-x"].error is None


@pytest.mark.parametrize(
    ("catalog", "template", "problem"),
    [
        ("title,image\nx,red.png\n", TEMPLATE, "no 'sku' column"),
        ("sku,title,image\nx,Runner,red.png\n", TEMPLATE, "the template uses {color}, which is not a column"),
        ("sku,sku,image\n", TEMPLATE, "names column 'sku' twice"),
        ("sku\nx\n", b"style: '{title.upper}'\n", "a merge field is a column name in braces"),
        ("sku\nx\n", b"style: 'a {'\n", "write a literal brace as '{{'"),
        ("sku\nx\n", b"style: [\n", "file campaign.yaml (the template): not valid YAML"),
    ],
)
def test_a_catalog_that_cannot_be_used_as_a_whole_is_one_problem(catalog, template, problem):
    with pytest.raises(CatalogProblem, match="catalog drop 'shoes'") as caught:
        _parse(catalog, template=template)
    assert problem in str(caught.value)


def test_merge_values_are_data_never_yaml():
    catalog = _parse('sku,title,color,image\nx,"a: b\nmodel: evil",{color},red.png\n')
    manifest = yaml.safe_load(catalog.manifest(catalog.rows["shoes-x"]))
    assert manifest["shots"][0]["prompt"] == "slow push-in on the {color} a: b\nmodel: evil"
    assert "model" not in manifest


def test_a_catalog_drop_name_leaves_room_for_skus():
    with pytest.raises(CatalogProblem, match="at most 40 characters"):
        parse_catalog("s" * 41, "catalog.csv", b"sku\nx\n", None, set(), _no_url)
    assert list(parse_catalog("s" * 40, "catalog.csv", b"sku\nx\n", None, set(), _no_url).rows) == ["s" * 40 + "-x"]
