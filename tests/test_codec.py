"""Round trips of port values through nodegraph.codec (no pickle on the frame path)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nodegraph import codec

DTYPES = (
    hnp.boolean_dtypes()
    | hnp.integer_dtypes(endianness="?")
    | hnp.unsigned_integer_dtypes(endianness="?")
    | hnp.floating_dtypes(endianness="?")
    | hnp.complex_number_dtypes(endianness="?")
)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
ARRAYS = DTYPES.flatmap(lambda dt: hnp.arrays(dt, SHAPES))
# strided and transposed views must travel too (written C-contiguous)
VIEWS = ARRAYS.map(lambda a: a[::2] if a.ndim else a) | ARRAYS.map(lambda a: a.T)
NP_SCALARS = DTYPES.flatmap(lambda dt: hnp.arrays(dt, ())).map(lambda a: a[()])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text() | NP_SCALARS
FIELDS = SCALARS | ARRAYS | VIEWS
RECORDS = st.lists(st.dictionaries(st.text(max_size=8), FIELDS, max_size=5), max_size=4)
VALUES = SCALARS | ARRAYS | VIEWS | RECORDS


def assert_same(got, want):
    """Bit-exact equality that keeps types apart (True vs 1, float32 vs float, NaN payloads)."""
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray)
        assert (got.dtype, got.shape) == (want.dtype, want.shape)
        assert got.tobytes() == want.tobytes()
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert list(g) == list(w)
            for key in w:
                assert_same(g[key], w[key])
    else:
        assert type(got) is type(want)
        if isinstance(want, np.generic):
            assert got.tobytes() == want.tobytes()
        elif isinstance(want, float) and math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want


def encode(value, slack: int = 0) -> tuple[bytearray, int]:
    size = codec.encoded_size(value)
    buf = bytearray(size + slack)
    assert codec.encode_into(value, memoryview(buf)) == size
    return buf, size


@settings(max_examples=300, deadline=None)
@given(VALUES, st.booleans(), st.integers(0, 100))
def test_every_value_round_trips_bit_exact(value, copy, slack):
    buf, _ = encode(value, slack)  # a slot is usually bigger than its packet
    assert_same(codec.decode(memoryview(buf), copy=copy), value)


def test_a_list_of_faces_round_trips():
    rng = np.random.default_rng(1)
    faces = [
        {
            "box": np.array([10.5, 20.0, 110.0, 140.0], np.float32),
            "score": 0.98,
            "landmarks": rng.random((468, 2), np.float32),
            "crop": rng.integers(0, 256, (128, 128, 3), np.uint8),
            "matrix": rng.random((2, 3)),
            "mask": rng.random((128, 128), np.float32),
            "swapped": None,
            "track_id": 3,
            "label": "face-0",
            "mirrored": False,
            "confidence": np.float32(0.5),
        }
        for _ in range(3)
    ]
    buf, _ = encode(faces)
    assert_same(codec.decode(memoryview(buf), copy=False), faces)
    assert_same(codec.decode(memoryview(buf), copy=True), faces)


def test_arrays_are_64_byte_aligned_from_the_buffer_start():
    value = [{"k": "x", "a": np.ones(3, np.uint8), "b": np.ones((5, 7), np.float64)}, {"c": np.arange(9)}]
    buf, _ = encode(value)
    base = np.frombuffer(buf, np.uint8).ctypes.data
    decoded = codec.decode(memoryview(buf), copy=False)
    offsets = [
        arr.ctypes.data - base for rec in decoded for arr in rec.values() if isinstance(arr, np.ndarray)
    ]
    assert len(offsets) == 3 and all(off % codec.ALIGN == 0 for off in offsets)


def test_decode_without_copy_gives_views_into_the_buffer():
    frame = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
    buf, _ = encode(frame)
    view = codec.decode(memoryview(buf), copy=False)
    assert np.shares_memory(view, np.frombuffer(buf, np.uint8))
    np.frombuffer(buf, np.uint8)[-1] = 7  # the last payload byte is the last pixel
    assert view[-1, -1, -1] == 7

    owned = codec.decode(memoryview(buf), copy=True)
    assert not np.shares_memory(owned, np.frombuffer(buf, np.uint8)) and owned.flags.writeable


def test_a_read_only_buffer_gives_read_only_views():
    buf, _ = encode(np.zeros((4, 4), np.float32))
    view = codec.decode(memoryview(buf).toreadonly(), copy=False)
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[0, 0] = 1


def test_a_non_contiguous_array_is_written_c_contiguous():
    src = np.arange(60, dtype=np.int16).reshape(6, 10)[::2, ::3]
    buf, _ = encode(src)
    got = codec.decode(memoryview(buf), copy=False)
    assert got.flags.c_contiguous and np.array_equal(got, src)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"a": 1}, "dict"),
        ((1, 2), "tuple"),
        (b"raw", "bytes"),
        ({1, 2}, "set"),
        (object(), "object"),
        (np.array(["a", "b"]), "<U1"),
        (np.array([1, None], dtype=object), "object"),
        (np.zeros(2, dtype=[("x", "f4")]), "dtype"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
        ([1, 2], "int"),
        ([{"a": [1]}], "list"),
        ([{"a": {"b": 1}}], "dict"),
        ([{1: "x"}], "int"),
        ([{"a": (1,)}], "tuple"),
    ],
)
def test_an_unsupported_value_raises_type_error_naming_it(value, named):
    with pytest.raises(TypeError, match=named):
        codec.encoded_size(value)
    with pytest.raises(TypeError, match=named):
        codec.encode_into(value, memoryview(bytearray(1024)))


def test_a_buffer_too_small_is_refused_with_both_sizes():
    frame = np.zeros((10, 10, 3), np.uint8)
    size = codec.encoded_size(frame)
    with pytest.raises(ValueError, match=f"needs {size} bytes but the buffer holds 100"):
        codec.encode_into(frame, memoryview(bytearray(100)))


def test_a_truncated_packet_is_refused():
    buf, size = encode(np.zeros((10, 10), np.float64))
    with pytest.raises(ValueError, match="truncated"):
        codec.decode(memoryview(buf)[: size - 8], copy=False)
    with pytest.raises(ValueError, match="empty"):
        codec.decode(memoryview(b""), copy=False)


def test_scalars_keep_their_python_type():
    for value in (True, 1, 1.0, -(2**100), 2**63, -0.0, float("inf"), "", "ünï", None, np.bool_(True)):
        buf, _ = encode(value)
        assert_same(codec.decode(memoryview(buf), copy=False), value)
