"""Encode one port value into a flat byte buffer and back, without pickle.

A value is None, a scalar (bool, int, float, str, or a numpy scalar), a numeric or
bool numpy array of any shape, or a list of records (dicts str -> any of the former,
e.g. the detections of one frame). Array data is aligned to 64 bytes from the buffer start
and written with one copy, so a frame costs one memcpy in and, with `copy=False`,
none out.

Layout (little-endian): a tag byte, then per tag
  none      -
  bool      u8
  int       u16 n, n bytes two's complement
  float     f64
  str       u32 n, n bytes utf-8
  npscalar  u8 n, dtype str (n bytes), itemsize bytes
  array     u8 n, dtype str (n bytes), u8 ndim, ndim x i64 shape, padding to 64, data (C order)
  records   u32 count, per record: u32 fields, per field: u16 n, key utf-8, value
"""

from __future__ import annotations

import functools
import math
import struct

import numpy as np

ALIGN = 64

_NONE, _BOOL, _INT, _FLOAT, _STR, _NPSCALAR, _ARRAY, _RECORDS = range(8)
_ARRAY_KINDS = "biufc"

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_TAG_U8 = struct.Struct("<BB")
_TAG_U32 = struct.Struct("<BI")
_TAG_F64 = struct.Struct("<Bd")


class _Cursor:
    """Walks a value once; with `buf=None` it only counts bytes, so sizing and writing share one code."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: memoryview | None):
        self.buf = buf
        self.pos = 0

    def pack(self, st: struct.Struct, *vals) -> None:
        if self.buf is not None:
            st.pack_into(self.buf, self.pos, *vals)
        self.pos += st.size

    def raw(self, data: bytes) -> None:
        if self.buf is not None:
            self.buf[self.pos : self.pos + len(data)] = data
        self.pos += len(data)

    def align(self) -> None:
        self.pos = -(-self.pos // ALIGN) * ALIGN

    def array_data(self, arr: np.ndarray) -> None:
        if self.buf is not None and arr.size:
            np.ndarray(arr.shape, arr.dtype, self.buf, self.pos)[...] = arr
        self.pos += arr.nbytes


@functools.cache
def _shape_struct(ndim: int) -> struct.Struct:
    return struct.Struct(f"<{ndim}q")


def _check_dtype(dtype: np.dtype, what: str) -> None:
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(f"cannot encode a {what} of dtype {dtype}: only numeric and bool dtypes travel")


def _put_scalar(value, c: _Cursor) -> None:
    # arrays first (the frame path); bool before int and numpy scalars before float, as subclasses
    if isinstance(value, np.ndarray):
        _check_dtype(value.dtype, "numpy array")
        dt = value.dtype.str.encode("ascii")
        c.pack(_TAG_U8, _ARRAY, len(dt))
        c.raw(dt)
        c.pack(_U8, value.ndim)
        c.pack(_shape_struct(value.ndim), *value.shape)
        c.align()
        c.array_data(value)
    elif value is None:
        c.pack(_U8, _NONE)
    elif isinstance(value, bool):
        c.pack(_TAG_U8, _BOOL, value)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        c.pack(_TAG_U32, _STR, len(data))
        c.raw(data)
    elif isinstance(value, np.generic):
        _check_dtype(value.dtype, "numpy scalar")
        dt = value.dtype.str.encode("ascii")
        c.pack(_TAG_U8, _NPSCALAR, len(dt))
        c.raw(dt)
        c.raw(value.tobytes())
    elif isinstance(value, int):
        data = value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
        c.pack(_U8, _INT)
        c.pack(_U16, len(data))
        c.raw(data)
    elif isinstance(value, float):
        c.pack(_TAG_F64, _FLOAT, value)
    else:
        raise TypeError(
            f"cannot encode a value of type {type(value).__name__}: a port value is None, bool, int, "
            "float, str, a numpy array or a list of records (dicts of those)"
        )


def _put(value, c: _Cursor) -> None:
    if not isinstance(value, list):
        _put_scalar(value, c)
        return
    c.pack(_TAG_U32, _RECORDS, len(value))
    for i, record in enumerate(value):
        if not isinstance(record, dict):
            raise TypeError(
                f"cannot encode list item {i} of type {type(record).__name__}: lists hold records (dicts)"
            )
        c.pack(_U32, len(record))
        for key, field in record.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"cannot encode record {i}: key {key!r} is of type {type(key).__name__}, keys must be str"
                )
            if isinstance(field, (list, dict)):
                raise TypeError(
                    f"cannot encode record {i} field {key!r} of type {type(field).__name__}: "
                    "record fields are arrays, scalars or None (no nesting)"
                )
            data = key.encode("utf-8")
            c.pack(_U16, len(data))
            c.raw(data)
            _put_scalar(field, c)


def encoded_size(value) -> int:
    """Bytes `encode_into` needs for `value` (raises TypeError for a type that cannot travel)."""
    c = _Cursor(None)
    _put(value, c)
    return c.pos


def encode_unchecked(value, buf: memoryview) -> int:
    """`encode_into` for a caller that already checked `encoded_size(value)` against `len(buf)`."""
    c = _Cursor(buf)
    _put(value, c)
    return c.pos


def encode_into(value, buf: memoryview) -> int:
    """Write `value` at the start of `buf` (64-byte aligned for the arrays inside); returns bytes written."""
    size = encoded_size(value)
    if size > len(buf):
        raise ValueError(f"value needs {size} bytes but the buffer holds {len(buf)}")
    return encode_unchecked(value, buf)


class _Reader:
    __slots__ = ("buf", "pos", "copy")

    def __init__(self, buf: memoryview, copy: bool):
        self.buf = buf
        self.pos = 0
        self.copy = copy

    def unpack_all(self, st: struct.Struct) -> tuple:
        vals = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return vals

    def unpack(self, st: struct.Struct):
        return self.unpack_all(st)[0]

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise ValueError(f"truncated packet: needs {self.pos + n} bytes, buffer has {len(self.buf)}")
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    def dtype(self) -> np.dtype:
        return np.dtype(self.raw(self.unpack(_U8)).decode("ascii"))

    def array(self) -> np.ndarray:
        dtype = self.dtype()
        ndim = self.unpack(_U8)
        shape = self.unpack_all(_shape_struct(ndim))
        self.pos = -(-self.pos // ALIGN) * ALIGN
        nbytes = math.prod(shape) * dtype.itemsize
        if self.pos + nbytes > len(self.buf):
            raise ValueError(
                f"truncated packet: array {shape} {dtype} runs past the buffer end ({len(self.buf)})"
            )
        # frombuffer keeps a buffer export alive, so the memory cannot be unmapped under the view
        arr = np.frombuffer(self.buf, dtype, nbytes // dtype.itemsize, self.pos).reshape(shape)
        self.pos += nbytes
        return arr.copy() if self.copy else arr

    def scalar(self):
        tag = self.unpack(_U8)
        if tag == _NONE:
            return None
        if tag == _BOOL:
            return bool(self.unpack(_U8))
        if tag == _INT:
            return int.from_bytes(self.raw(self.unpack(_U16)), "little", signed=True)
        if tag == _FLOAT:
            return self.unpack(_F64)
        if tag == _STR:
            return self.raw(self.unpack(_U32)).decode("utf-8")
        if tag == _NPSCALAR:
            dtype = self.dtype()
            return np.frombuffer(self.raw(dtype.itemsize), dtype)[0]
        if tag == _ARRAY:
            return self.array()
        raise ValueError(f"corrupt packet: unknown tag {tag} at byte {self.pos - 1}")

    def value(self):
        if len(self.buf) == 0:
            raise ValueError("cannot decode an empty buffer")
        if self.buf[0] != _RECORDS:
            return self.scalar()
        self.pos = 1
        records = []
        for _ in range(self.unpack(_U32)):
            record = {}
            for _ in range(self.unpack(_U32)):
                key = self.raw(self.unpack(_U16)).decode("utf-8")
                record[key] = self.scalar()
            records.append(record)
        return records


def decode(buf: memoryview, copy: bool):
    """Read a value written by `encode_into`.

    With `copy=False` arrays are views into `buf` (zero copy; read-only when `buf` is): they stay
    valid only while `buf` holds this packet. With `copy=True` every array is a fresh, writable copy.
    """
    mv = memoryview(buf)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return _Reader(mv, copy).value()
