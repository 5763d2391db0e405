"""The maskfile segmenter."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tst_maskfile import MaskFileOptions, MaskFileSegmenter, label_from_name

from tst_core.errors import ConfigError, InputError

PHOTO = torch.zeros(3, 10, 16)


def seg(path, **kw):
    return MaskFileSegmenter(MaskFileOptions(masks=path, **kw)).segment(PHOTO)


def save_mask(path, x0, x1, value=255, size=(16, 10)):
    arr = np.zeros(size[::-1], np.uint8)
    arr[2:8, x0:x1] = value
    Image.fromarray(arr).save(path)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("person.png", "person"),
        ("person_2.png", "person"),
        ("003_car.png", "car"),
        ("007_traffic light_1.png", "traffic light"),
        ("Dog-3.png", "dog"),
        ("12.png", "region"),
    ],
)
def test_labels_come_from_file_names(tmp_path, name, label):
    assert label_from_name(tmp_path / name) == label


def test_a_folder_gives_one_instance_per_png(tmp_path):
    save_mask(tmp_path / "person_1.png", 0, 4)
    save_mask(tmp_path / "person_2.png", 6, 9, value=128)  # a soft mask
    save_mask(tmp_path / "car.png", 10, 16)
    (tmp_path / "notes.txt").write_text("ignored")
    s = seg(tmp_path)
    assert [i.label for i in s] == ["car", "person", "person"]
    assert all(i.score == 1.0 for i in s)
    soft = s.instances[2]
    assert soft.box == (6.0, 2.0, 9.0, 8.0) and float(soft.mask.max()) == pytest.approx(128 / 255)
    assert s.instances[0].box == (10.0, 2.0, 16.0, 8.0)


def test_instances_json_gives_labels_and_scores(tmp_path):
    save_mask(tmp_path / "000_a.png", 0, 4)
    save_mask(tmp_path / "001_b.png", 6, 9)
    index = {
        "instances": [
            {"file": "000_a.png", "label": "person", "score": 0.4},
            {"file": "001_b.png", "label": "traffic light", "score": 0.9},
        ]
    }
    (tmp_path / "instances.json").write_text(json.dumps(index))
    s = seg(tmp_path)
    assert [(i.label, i.score) for i in s] == [("traffic light", 0.9), ("person", 0.4)]


def test_indexed_label_png(tmp_path):
    arr = np.zeros((10, 16), np.uint8)
    arr[1:3, 1:3] = 1
    arr[5:9, 10:15] = 2
    Image.fromarray(arr, "L").save(tmp_path / "labels.png")
    s = seg(tmp_path / "labels.png", labels=("person", "dog"))
    assert sorted(i.label for i in s) == ["dog", "person"]
    dog = next(i for i in s if i.label == "dog")
    assert dog.box == (10.0, 5.0, 15.0, 9.0) and float(dog.mask.sum()) == 20
    assert [i.label for i in seg(tmp_path / "labels.png")] == ["region", "region"]


def bad_index(folder):
    save_mask(folder / "a.png", 0, 4)
    (folder / "instances.json").write_text("{")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: save_mask(p / "a.png", 0, 4, size=(20, 10)), "is 20×10 but the photo is 16×10"),
        (lambda p: save_mask(p / "a.png", 0, 4, value=0), "mask 'a.png' is empty"),
        (lambda p: None, "has no .png files"),
        (lambda p: bad_index(p), "cannot read"),
    ],
)
def test_bad_mask_folders(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(InputError, match=message):
        seg(tmp_path)


def test_bad_label_images(tmp_path):
    Image.fromarray(np.zeros((10, 16), np.uint8), "L").save(tmp_path / "zero.png")
    with pytest.raises(InputError, match="has no instances"):
        seg(tmp_path / "zero.png")
    Image.fromarray(np.ones((10, 16, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="must be a palette or single-channel"):
        seg(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="do not exist"):
        seg(tmp_path / "none.png")


def test_masks_are_required():
    with pytest.raises(ConfigError, match="needs masks: pass --masks DIR"):
        MaskFileSegmenter(MaskFileOptions())


def write_index(folder, entries):
    (folder / "instances.json").write_text(json.dumps({"instances": entries}))


def test_with_an_index_only_the_files_it_lists_are_instances(tmp_path):
    """An overlay or any other picture saved into an exported folder is not an instance, and
    the ids of the listed ones do not shift."""
    save_mask(tmp_path / "000_dog.png", 1, 5)
    save_mask(tmp_path / "001_cat.png", 8, 12)
    save_mask(tmp_path / "ids.png", 0, 16)  # 100 % of its rows: would rank first as "ids"
    write_index(
        tmp_path,
        [
            {"file": "000_dog.png", "label": "dog", "score": 0.9},
            {"file": "001_cat.png", "label": "cat", "score": 0.8},
        ],
    )
    assert [i.label for i in seg(tmp_path).instances] == ["dog", "cat"]


def test_a_listed_file_that_is_missing_is_named(tmp_path):
    save_mask(tmp_path / "000_dog.png", 1, 5)
    write_index(tmp_path, [{"file": "000_dog.png"}, {"file": "001_cat.png"}])
    with pytest.raises(InputError, match="lists '001_cat.png', which is not in the folder"):
        seg(tmp_path)


@pytest.mark.parametrize("score", ["high", -0.1, 1.5, True, None, float("nan")])
def test_a_bad_score_in_the_index_is_an_input_error(tmp_path, score):
    save_mask(tmp_path / "000_dog.png", 1, 5)
    write_index(tmp_path, [{"file": "000_dog.png", "score": score}])
    with pytest.raises(InputError, match="the score of '000_dog.png' must be a number from 0 to 1"):
        seg(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        '{"instances": 3}',
        '{"instances": [1]}',
        pytest.param("[" * 100_000, id="100000-deep"),
        "{",
    ],
)
def test_a_malformed_index_is_an_input_error(tmp_path, text):
    save_mask(tmp_path / "000_dog.png", 1, 5)
    (tmp_path / "instances.json").write_text(text)
    with pytest.raises(InputError, match="cannot read '.*instances.json'"):
        seg(tmp_path)


def test_masks_smaller_than_the_photo_with_its_aspect_are_read_at_their_size(tmp_path):
    """tst segment exports masks at the segmenter's working size; maskfile reads them back."""
    save_mask(tmp_path / "000_person.png", 2, 6, size=(8, 5))
    seg = MaskFileSegmenter(MaskFileOptions(masks=tmp_path)).segment(torch.rand(3, 10, 16))
    (inst,) = seg.instances
    assert inst.mask.shape == (5, 8) and seg.size == (10, 16)
    assert inst.box == (4.0, 4.0, 12.0, 10.0)  # the mask's tight box, in photo pixels
