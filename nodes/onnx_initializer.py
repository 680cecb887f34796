"""Read a weight tensor (an initializer), or the first operators, straight out of an ONNX file, without
the `onnx` package.

onnxruntime hides a graph's initializers and nodes, and `onnx` is only a development dependency, so
this walks the protobuf wire format itself: ModelProto.graph (field 7) -> GraphProto.initializer (field
5) -> TensorProto dims (1), data_type (2), float_data (4), double_data (10), raw_data (9),
data_location (14); GraphProto.node (field 1) -> NodeProto.op_type (field 4). The file is
memory-mapped and only the fields on the way are decoded, so even a 500 MB model costs a few
milliseconds.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

from nodegraph.errors import InvalidInput

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_MODEL_GRAPH, _GRAPH_NODE, _GRAPH_INITIALIZER, _NODE_OP_TYPE = 7, 1, 5, 4
_T_DIMS, _T_TYPE, _T_FLOAT_DATA, _T_NAME, _T_RAW, _T_DOUBLE_DATA, _T_LOCATION = 1, 2, 4, 8, 9, 10, 14
_DTYPES = {1: np.float32, 10: np.float16, 11: np.float64}  # ONNX TensorProto.DataType -> numpy
_EXTERNAL = 1


def _varint(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint")


def _fields(buf, start: int, end: int):
    """(field number, wire type, value or (offset, length) for LEN fields) in buf[start:end]."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _LEN:
            length, pos = _varint(buf, pos)
            value = (pos, length)
            pos += length
        elif wire == _FIXED32:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == _FIXED64:
            value, pos = buf[pos:pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise ValueError("a field runs past the end of its message")
        yield number, wire, value


def _tensor(buf, start: int, end: int) -> np.ndarray:
    dims: list[int] = []
    dtype_code, raw, floats, doubles, name, location = None, None, [], [], "", 0
    for number, wire, value in _fields(buf, start, end):
        if number == _T_DIMS:
            if wire == _LEN:
                pos, stop = value[0], value[0] + value[1]
                while pos < stop:
                    dim, pos = _varint(buf, pos)
                    dims.append(dim)
            else:
                dims.append(value)
        elif number == _T_TYPE:
            dtype_code = value
        elif number == _T_NAME:
            name = bytes(buf[value[0]:value[0] + value[1]]).decode("utf-8", "replace")
        elif number == _T_RAW:
            raw = value
        elif number == _T_FLOAT_DATA:
            floats.append(np.frombuffer(buf, "<f4", value[1] // 4, value[0]) if wire == _LEN
                          else np.frombuffer(bytes(value), "<f4"))
        elif number == _T_DOUBLE_DATA:
            doubles.append(np.frombuffer(buf, "<f8", value[1] // 8, value[0]) if wire == _LEN
                           else np.frombuffer(bytes(value), "<f8"))
        elif number == _T_LOCATION:
            location = value
    if location == _EXTERNAL:
        raise ValueError(f"initializer '{name}' keeps its data in an external file, which is not supported")
    if dtype_code not in _DTYPES:
        raise ValueError(f"initializer '{name}' has ONNX data type {dtype_code}; only float16/32/64 are read")
    if raw is not None:
        dtype = np.dtype(_DTYPES[dtype_code]).newbyteorder("<")
        data = np.frombuffer(buf, dtype, raw[1] // dtype.itemsize, raw[0])
    elif dtype_code == 11:
        data = np.concatenate(doubles) if doubles else np.empty(0, np.float64)
    elif dtype_code == 1:
        data = np.concatenate(floats) if floats else np.empty(0, np.float32)
    else:
        raise ValueError(f"initializer '{name}' is float16 without raw data, which is not supported")
    expected = int(np.prod(dims)) if dims else 1
    if data.size != expected:
        raise ValueError(f"initializer '{name}' has {data.size} values for shape {dims}")
    return data.astype(_DTYPES[dtype_code]).reshape(dims)  # astype copies it out of the mapping


def _graph_fields(buf):
    """(field number, wire type, value) of the model's graph."""
    for number, wire, value in _fields(buf, 0, len(buf)):
        if number == _MODEL_GRAPH and wire == _LEN:
            yield from _fields(buf, value[0], value[0] + value[1])


def _read(path: Path, what: str, read):
    try:
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return read(buf)
    except (ValueError, IndexError) as exc:
        raise InvalidInput(f"{path}: cannot read its {what} as an ONNX model: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read it: {exc.strerror or exc}") from None


def last_initializer(path: str | Path) -> np.ndarray:
    """The last initializer of the ONNX model at `path` (InvalidInput naming the file if it has none
    or is not an ONNX protobuf)."""
    path = Path(path)

    def read(buf):
        last = None
        for number, wire, value in _graph_fields(buf):
            if number == _GRAPH_INITIALIZER and wire == _LEN:
                last = value
        if last is None:
            raise InvalidInput(f"{path}: the ONNX graph has no initializers (weights); is it the right model?")
        return _tensor(buf, last[0], last[0] + last[1])

    return _read(path, "weights", read)


def first_op_types(path: str | Path, count: int) -> list[str]:
    """The operator types (Conv, Sub, ...) of the first `count` nodes of the ONNX model at `path`."""
    path = Path(path)

    def read(buf):
        types = []
        for number, wire, value in _graph_fields(buf):
            if number == _GRAPH_NODE and wire == _LEN:
                for n_number, n_wire, n_value in _fields(buf, value[0], value[0] + value[1]):
                    if n_number == _NODE_OP_TYPE and n_wire == _LEN:
                        types.append(bytes(buf[n_value[0]:n_value[0] + n_value[1]]).decode("utf-8", "replace"))
                if len(types) == count:
                    break
        return types

    return _read(path, "graph", read)
