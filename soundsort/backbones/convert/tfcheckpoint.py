"""Read TensorFlow (V2 "tensor bundle") checkpoints without TensorFlow.

A checkpoint ``PREFIX`` is two files:

* ``PREFIX.index`` -- an SSTable in the LevelDB table format: data blocks of prefix-compressed
  key/value entries with restart points, a meta-index block, an index block and a 48-byte footer
  (two varint block handles, padding, magic ``0xdb4775248b80fb57``). Every block is followed by a
  5-byte trailer: the compression type (0 none, 1 snappy) and the masked CRC-32C of block + type.
  The entry with the empty key is a ``BundleHeaderProto``; every other key is a tensor name whose
  value is a ``BundleEntryProto`` (dtype, shape, shard_id, offset, size, crc32c).
* ``PREFIX.data-SSSSS-of-NNNNN`` -- the raw little-endian tensor bytes of each shard.

Both protobufs are decoded by hand (varints and length-delimited fields), so neither TensorFlow
nor the protobuf runtime is needed. The CRC-32C of every tensor (masked, as TensorFlow stores it)
and of every index block is checked; the CRC is computed with numpy over many lanes at once and
the lane results are combined (CRC is linear over GF(2)), so checking a 10 MB checkpoint costs a
few hundred milliseconds at most.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundsort.errors import ModelError

__all__ = [
    "TensorEntry",
    "checkpoint_prefix",
    "crc32c",
    "mask_crc",
    "read_checkpoint",
    "read_index",
    "snappy_decompress",
    "unmask_crc",
]

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48
_BLOCK_TRAILER_LEN = 5
_NO_COMPRESSION = 0
_SNAPPY_COMPRESSION = 1

# tensorflow/core/framework/types.proto -> numpy (little-endian)
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}

# --------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, as used by LevelDB and TensorFlow.
# --------------------------------------------------------------------------------------------

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _make_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(_POLY), t >> 1).astype(np.uint32)
    return t


_TABLE = _make_table()
_TABLE_LIST: list[int] = [int(v) for v in _TABLE]
_SMALL = 1 << 14  # below this many bytes a plain loop is faster than the lane method


def _crc_loop(reg: int, data: bytes | memoryview) -> int:
    """Advance the raw CRC register ``reg`` over ``data`` (no pre/post inversion)."""
    tbl = _TABLE_LIST
    for b in bytes(data):
        reg = tbl[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _crc_lanes(regs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Advance ``len(regs)`` independent raw registers; ``rows[i]`` holds byte ``i`` of every lane."""
    tbl = _TABLE
    for row in rows:
        regs = tbl[(regs ^ row) & 0xFF] ^ (regs >> 8)
    return regs


def _tables_from_images(images: np.ndarray) -> np.ndarray:
    """Byte lookup tables ``(4, 256)`` of the GF(2)-linear map that sends bit ``k`` to ``images[k]``."""
    values = np.arange(256, dtype=np.uint32)
    tables = np.zeros((4, 256), dtype=np.uint32)
    for j in range(4):
        for k in range(8):
            tables[j] ^= np.where((values >> k) & 1, images[8 * j + k], np.uint32(0)).astype(np.uint32)
    return tables


def _apply(tables: np.ndarray, regs: np.ndarray) -> np.ndarray:
    return (tables[0][regs & 0xFF] ^ tables[1][(regs >> 8) & 0xFF]
            ^ tables[2][(regs >> 16) & 0xFF] ^ tables[3][regs >> 24])


@functools.lru_cache(maxsize=64)
def _zero_images(n_zero_bytes: int) -> np.ndarray:
    """Images of the 32 basis registers after ``n_zero_bytes`` zero bytes (the 'shift' operator)."""
    basis = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)
    return _crc_lanes(basis, np.zeros((n_zero_bytes, 1), dtype=np.uint8))


def _crc_raw(reg: int, buf: np.ndarray) -> int:
    """Advance raw register ``reg`` over the uint8 array ``buf`` (vectorised for large buffers)."""
    n = int(buf.size)
    if n < _SMALL:
        return _crc_loop(reg, buf.tobytes())
    lanes = 1 << max(6, min(12, (n.bit_length() - 1) // 2))  # ~sqrt(n), power of two
    length = n // lanes
    main = lanes * length
    regs = np.zeros(lanes, dtype=np.uint32)
    regs[0] = reg  # the register update is linear in (register, data): the start value rides lane 0
    regs = _crc_lanes(regs, np.ascontiguousarray(buf[:main].reshape(lanes, length).T))
    # combine neighbouring lanes: crc(A || B) = shift_len(B)(crc(A)) ^ crc(B), pairwise up a tree
    images = _zero_images(length)
    while len(regs) > 1:
        tables = _tables_from_images(images)
        regs = _apply(tables, regs[0::2]) ^ regs[1::2]
        images = _apply(tables, images)  # the shift operator for twice the length
    return _crc_loop(int(regs[0]), buf[main:].tobytes())


def crc32c(data: bytes | bytearray | memoryview | np.ndarray, value: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from a previous result ``value``.

    ``crc32c(b"123456789") == 0xE3069283``.
    """
    if isinstance(data, np.ndarray):
        buf = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    else:
        buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    return _crc_raw((value ^ 0xFFFFFFFF) & 0xFFFFFFFF, buf) ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """The masked form of a CRC that LevelDB / TensorFlow store (rotate right 15, add a constant)."""
    crc &= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """Inverse of :func:`mask_crc`."""
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# Snappy (raw block format), used by LevelDB tables when a block's compression type is 1.
# --------------------------------------------------------------------------------------------


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; returns ``(value, next_pos)``."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def snappy_decompress(data: bytes) -> bytes:
    """Decompress one raw snappy block (varint length, then literal / copy elements)."""
    length, pos = _varint(data, 0)
    out = bytearray()
    n = len(data)
    while pos < n:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            size = tag >> 2
            if size >= 60:
                extra = size - 59
                size = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            size += 1
            if pos + size > n:
                raise ValueError("snappy literal runs past the end")
            out += data[pos:pos + size]
            pos += size
            continue
        if kind == 1:
            size = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            size = 1 + (tag >> 2)
            offset = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            size = 1 + (tag >> 2)
            offset = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise ValueError("snappy copy offset out of range")
        start = len(out) - offset
        if offset >= size:
            out += out[start:start + size]
        else:  # overlapping copy: repeat the last `offset` bytes
            for i in range(size):
                out.append(out[start + i])
    if len(out) != length:
        raise ValueError(f"snappy length mismatch: header says {length}, got {len(out)}")
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Protobuf wire format (just enough for BundleHeaderProto / BundleEntryProto)
# --------------------------------------------------------------------------------------------


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)``; value is an int (varint/fixed) or bytes."""
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value = bytes(buf[pos:pos + size])
            pos += size
        elif wire == 5:
            value = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > n:
            raise ValueError("truncated protobuf message")
        yield field, wire, value


def _int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


@dataclass(frozen=True)
class TensorEntry:
    """One ``BundleEntryProto``: where a tensor lives in the data shards and how to check it."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None  # masked, as stored; None when absent

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims: list[int] = []
    for field, _, value in _fields(buf):
        if field == 2:  # Dim {int64 size = 1; string name = 2}
            size = 0
            for f2, _, v2 in _fields(value):  # type: ignore[arg-type]
                if f2 == 1:
                    size = _int64(v2)  # type: ignore[arg-type]
            dims.append(size)
        elif field == 3 and value:
            raise ValueError("tensor of unknown rank")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorEntry:
    dtype_enum, shape, shard, offset, size, crc = 0, (), 0, 0, 0, None
    for field, _, value in _fields(buf):
        if field == 1:
            dtype_enum = int(value)  # type: ignore[arg-type]
        elif field == 2:
            shape = _parse_shape(value)  # type: ignore[arg-type]
        elif field == 3:
            shard = int(value)  # type: ignore[arg-type]
        elif field == 4:
            offset = _int64(value)  # type: ignore[arg-type]
        elif field == 5:
            size = _int64(value)  # type: ignore[arg-type]
        elif field == 6:
            crc = int(value)  # type: ignore[arg-type]
        elif field == 7:
            raise ValueError(f"tensor {name!r} is partitioned into slices (unsupported)")
    if dtype_enum not in _DTYPES:
        raise ValueError(f"tensor {name!r} has unsupported dtype enum {dtype_enum}")
    return TensorEntry(name, _DTYPES[dtype_enum], shape, shard, offset, size, crc)


# --------------------------------------------------------------------------------------------
# SSTable (LevelDB table format)
# --------------------------------------------------------------------------------------------


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    end = offset + size
    if end + _BLOCK_TRAILER_LEN > len(table):
        raise ValueError("block handle points past the end of the file")
    block = table[offset:end]
    kind = table[end]
    stored = int.from_bytes(table[end + 1:end + 5], "little")
    if unmask_crc(stored) != crc32c(table[offset:end + 1]):
        raise ValueError(f"index block at {offset} fails its CRC-32C check")
    if kind == _NO_COMPRESSION:
        return block
    if kind == _SNAPPY_COMPRESSION:
        return snappy_decompress(block)
    raise ValueError(f"unknown block compression type {kind}")


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, value)`` from one block, undoing the prefix compression of keys."""
    if len(block) < 4:
        raise ValueError("block too short")
    num_restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise ValueError("bad restart count")
    pos = 0
    key = b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise ValueError("corrupt block entry")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        yield key, block[pos:pos + value_len]
        pos += value_len


def _handle(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _table_items(table: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(table) < _FOOTER_LEN:
        raise ValueError("file too short for an SSTable footer")
    footer = table[-_FOOTER_LEN:]
    if int.from_bytes(footer[-8:], "little") != _TABLE_MAGIC:
        raise ValueError("not an SSTable (bad magic number)")
    _meta_off, _meta_size, pos = _handle(footer)
    index_off, index_size, _ = _handle(footer, pos)
    for _, handle in _block_entries(_read_block(table, index_off, index_size)):
        off, size, _ = _handle(handle)
        yield from _block_entries(_read_block(table, off, size))


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def checkpoint_prefix(path: str | os.PathLike[str]) -> str:
    """Resolve ``path`` to a checkpoint prefix (``PREFIX.index`` exists).

    Accepts the prefix itself, the ``.index`` file, or a folder whose checkpoint prefix is the folder
    itself (``folder/.index``, as in the musicnn wheel).
    """
    p = str(path)
    if p.endswith(".index"):
        p = p[: -len(".index")]
    if Path(p + ".index").is_file():
        return p
    if Path(p).is_dir() and (Path(p) / ".index").is_file():
        return str(Path(p)) + os.sep
    raise ModelError("no TensorFlow checkpoint here (missing .index file)", path)


def read_index(path: str | os.PathLike[str]) -> tuple[int, dict[str, TensorEntry]]:
    """Parse ``PREFIX.index``: returns ``(num_shards, {tensor name: TensorEntry})`` in key order."""
    prefix = checkpoint_prefix(path)
    index_path = prefix + ".index"
    try:
        table = Path(index_path).read_bytes()
        num_shards = 1
        entries: dict[str, TensorEntry] = {}
        for key, value in _table_items(table):
            if key == b"":  # BundleHeaderProto {num_shards = 1; endianness = 2; version = 3}
                for field, _, v in _fields(value):
                    if field == 1:
                        num_shards = int(v)  # type: ignore[arg-type]
                    elif field == 2 and v != 0:
                        raise ValueError("big-endian checkpoints are not supported")
                continue
            name = key.decode("utf-8")
            entries[name] = _parse_entry(name, value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"unreadable checkpoint index: {exc}", index_path) from exc
    return num_shards, entries


def read_checkpoint(
    path: str | os.PathLike[str],
    names: Iterable[str] | None = None,
    *,
    verify: bool = True,
) -> dict[str, np.ndarray]:
    """Read the tensors of a TF checkpoint as ``{name: array}`` (all of them, or just ``names``).

    Sizes are always checked against dtype x shape; with ``verify`` each tensor's stored (masked)
    CRC-32C is checked too. Raises :class:`ModelError` on any inconsistency.
    """
    prefix = checkpoint_prefix(path)
    num_shards, entries = read_index(prefix)
    if names is not None:
        wanted = list(names)
        missing = [n for n in wanted if n not in entries]
        if missing:
            raise ModelError(f"checkpoint has no tensor(s) {', '.join(missing)}", prefix + ".index")
        entries = {n: entries[n] for n in wanted}
    shards: dict[int, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        shard_path = f"{prefix}.data-{e.shard_id:05d}-of-{num_shards:05d}"
        if e.shard_id not in shards:
            try:
                shards[e.shard_id] = np.fromfile(shard_path, dtype=np.uint8)
            except OSError as exc:
                raise ModelError(f"cannot read checkpoint data: {exc.strerror or exc}", shard_path) from exc
        data = shards[e.shard_id]
        expected = e.num_elements * e.dtype.itemsize
        if e.size != expected:
            raise ModelError(f"tensor {name!r}: stored size {e.size} != {expected} for {e.dtype} {e.shape}",
                             shard_path)
        if e.offset < 0 or e.offset + e.size > data.size:
            raise ModelError(f"tensor {name!r} lies past the end of the data file", shard_path)
        raw = data[e.offset:e.offset + e.size]
        if verify and e.crc32c is not None and crc32c(raw) != unmask_crc(e.crc32c):
            raise ModelError(f"tensor {name!r} fails its CRC-32C check (damaged checkpoint)", shard_path)
        out[name] = raw.view(e.dtype).reshape(e.shape).astype(e.dtype.newbyteorder("="), copy=True)
    return out
