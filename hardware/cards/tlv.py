"""TLV encoding as the two card families use it.

The My Number card uses BER-TLV (multi-byte tags such as FF20 and DF21, short or long
lengths). The driver's licence uses one-byte tags with BER lengths, where `1F` is an
ordinary tag (条件4), not the start of a multi-byte tag, and `FF` in a tag position
means "padding to the end of the file". So the tag reader is chosen per card; the
length rules are the same.
"""
from __future__ import annotations

from dataclasses import dataclass


class TLVError(ValueError):
    """Bytes that are not the TLV they should be. Messages carry offsets, never values."""


class Incomplete(TLVError):
    """The data ends inside an object: more bytes of the file are needed."""

    def __init__(self, needed: int):
        super().__init__(f"TLV data incomplete: {needed} bytes needed")
        self.needed = needed  # total bytes from the start that would complete the object


@dataclass(frozen=True)
class TLV:
    tag: int
    value: bytes
    offset: int  # where the object (its tag) starts, from the start of the parsed data
    end: int  # offset just past the value

    @property
    def tag_hex(self) -> str:
        return f"{self.tag:X}"


def read_ber_tag(data: bytes, pos: int) -> tuple[int, int]:
    """Read a BER tag at `pos`; return (tag as int, position after it)."""
    if pos >= len(data):
        raise Incomplete(pos + 1)
    first = data[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:  # multi-byte tag: more bytes while bit 8 is set
        while True:
            if pos >= len(data):
                raise Incomplete(pos + 1)
            b = data[pos]
            tag = (tag << 8) | b
            pos += 1
            if not b & 0x80:
                break
            if tag > 0xFFFFFFFF:
                raise TLVError(f"tag too long at offset {pos}")
    return tag, pos


def read_single_tag(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise Incomplete(pos + 1)
    return data[pos], pos + 1


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    """BER length: short form (< 0x80) or long form 81 xx / 82 xx xx / 83 xx xx xx."""
    if pos >= len(data):
        raise Incomplete(pos + 1)
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > 3:
        raise TLVError(f"unsupported length form {first:02X} at offset {pos - 1}")
    if pos + count > len(data):
        raise Incomplete(pos + count)
    return int.from_bytes(data[pos:pos + count], "big"), pos + count


def parse(data: bytes, *, single_byte_tags: bool = False, stop_at_padding: bool = False,
          start: int = 0, end: int | None = None) -> list[TLV]:
    """Parse consecutive TLV objects.

    `stop_at_padding`: a tag position holding FF (licence) or 00/FF after at least one object
    (filler at the end of a My Number file) ends the list.
    Raises `Incomplete` when an object runs past the data, so a caller reading a file in
    chunks knows how many bytes it still needs.
    """
    read_tag = read_single_tag if single_byte_tags else read_ber_tag
    out: list[TLV] = []
    pos = start
    end = len(data) if end is None else end
    while pos < end:
        if stop_at_padding and data[pos] == 0xFF and (single_byte_tags or out):
            break
        if stop_at_padding and data[pos] == 0x00 and out and not single_byte_tags:
            break
        tag_start = pos
        tag, pos = read_tag(data, pos)
        length, pos = read_length(data, pos)
        if pos + length > end:
            if end < len(data):
                raise TLVError(f"object at offset {tag_start} overruns its container")
            raise Incomplete(pos + length)
        out.append(TLV(tag, bytes(data[pos:pos + length]), tag_start, pos + length))
        pos += length
    return out


def encode_tag(tag: int) -> bytes:
    n = max(1, (tag.bit_length() + 7) // 8)
    return tag.to_bytes(n, "big")


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return bytes([0x82]) + n.to_bytes(2, "big")
    if n <= 0xFFFFFF:
        return bytes([0x83]) + n.to_bytes(3, "big")
    raise TLVError("value too long")


def encode(tag: int, value: bytes) -> bytes:
    return encode_tag(tag) + encode_length(len(value)) + bytes(value)


def encode_licence(tag: int, value: bytes) -> bytes:
    """Licence style: 1-byte tag; 1-byte length below 0x80, else always `82 xx xx`."""
    n = len(value)
    length = bytes([n]) if n < 0x80 else b"\x82" + n.to_bytes(2, "big")
    return bytes([tag]) + length + bytes(value)
