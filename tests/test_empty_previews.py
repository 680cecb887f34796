"""A node that has nothing to show says why instead of showing black: FaceSelector's preview shows
the faces it kept, or a picture saying that no face was routed to it (its thumbnail used to stay
empty: its outputs are face records, and the default preview shows only image outputs)."""

import numpy as np
from test_face_select import record, selector

from nodes.face.draw import note_picture


def test_a_selector_with_no_face_says_so_in_its_preview():
    node = selector(by="leftmost", index=1)
    outputs = node.process([record(100, 300, 40, 0)])
    assert outputs["faces"] == []
    picture = node.preview(outputs)
    assert picture is not None and picture.dtype == np.uint8 and picture.ndim == 3
    assert picture.std() > 5  # text on the dark ground, not a blank frame
    blank = note_picture([])
    assert np.abs(picture.astype(int) - blank).sum() > 0


def test_a_selector_shows_the_crops_of_the_faces_it_kept():
    node = selector(by="rightmost", count=1)
    faces = [dict(record(100, 300, 40, 0), crop=np.full((64, 64, 3), 40, np.uint8)),
             dict(record(500, 300, 40, 1), crop=np.full((64, 64, 3), 220, np.uint8),
                  crop_mask=np.ones((64, 64), np.float32))]
    picture = node.preview(node.process(faces))
    assert picture.shape == (128, 256, 3)  # one row: the crop and the crop under its mask
    assert picture[:, :128].mean() > 200  # the rightmost face's bright crop, not the left one's


def test_kept_faces_without_crops_say_what_is_missing():
    node = selector(by="largest")
    picture = node.preview(node.process([record(100, 300, 40, 0)]))
    assert picture is not None and picture.std() > 5
