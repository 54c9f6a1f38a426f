"""A small ISO 7816-4 card: dedicated files selected by AID, transparent EFs, PIN objects.

It implements what the ID cards use and answers everything else the way a real card
would refuse it, so a reader bug shows up as an error here too:

- SELECT by AID (P1 04), by EF identifier under the current DF (P1 02), the MF (P1 00);
- READ BINARY with a 15-bit offset, or a short EF identifier (P1 = 80 | SFI, 8-bit offset);
- VERIFY: empty (tries left, uses none) or with the PIN; tries decrease on a wrong PIN,
  63Cx says how many are left (63C0 on the attempt that blocks), 6984 once blocked, and
  a correct PIN resets the counter;
- GET RESPONSE for cards that answer 61xx;
- access rules per EF: a list of alternatives, each a set of PINs that must all be verified.

Security state (which PINs are verified) is lost on reset and when a DF outside the
PIN's own DF is selected, as on a real card.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

SW_OK = b"\x90\x00"


def sw(value: int) -> bytes:
    return value.to_bytes(2, "big")


@dataclass
class Pin:
    id: str
    value: bytes
    tries: int
    max_tries: int
    fid: int
    sfi: int

    @property
    def blocked(self) -> bool:
        return self.tries <= 0


@dataclass
class EF:
    fid: int
    content: bytes = b""
    sfi: int | None = None
    # None: free to read. Otherwise a list of alternatives; each is a set of PIN ids that
    # must all be verified, e.g. [{"pin"}, {"b"}] = PIN or 照合番号B.
    access: list[frozenset[str]] | None = None
    pin: Pin | None = None  # an internal EF holding a PIN (not readable)


@dataclass
class DF:
    name: str
    aid: bytes | None = None
    fid: int | None = None
    files: dict[int, EF] = field(default_factory=dict)
    children: list[DF] = field(default_factory=list)
    parent: DF | None = None

    def add(self, ef: EF) -> EF:
        self.files[ef.fid] = ef
        return ef

    def add_pin(self, pin: Pin) -> Pin:
        self.files[pin.fid] = EF(pin.fid, sfi=pin.sfi, pin=pin)
        return pin

    def add_df(self, df: DF) -> DF:
        df.parent = self
        self.children.append(df)
        return df

    def pins(self) -> list[Pin]:
        return [f.pin for f in self.files.values() if f.pin]

    def ancestors(self) -> list[DF]:
        out, d = [], self
        while d is not None:
            out.append(d)
            d = d.parent
        return out

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class Behaviour:
    """How this card answers where real cards differ (persona `[behaviour]`)."""

    # READ BINARY asking for more than the file holds: "6282" (the bytes there are, with 6282),
    # "6C" (6Cxx telling the right Le, T=0 style) or "short" (the bytes there are, with 9000).
    read_past_end: str = "6282"
    # Answer every response carrying data with 61xx; the reader must GET RESPONSE it.
    get_response: bool = False
    # What an empty VERIFY answers once the PIN is verified: "9000" (seen on some cards) or "63Cx".
    empty_verify_when_verified: str = "9000"
    # What SELECT MF (00 A4 00 00) answers: "9000" or "6A86" (My Number cards may refuse it).
    select_mf: str = "9000"


class ParsedAPDU:
    __slots__ = ("cla", "ins", "p1", "p2", "data", "le")

    def __init__(self, raw: bytes):
        if len(raw) < 4:
            raise ValueError("too short")
        self.cla, self.ins, self.p1, self.p2 = raw[0], raw[1], raw[2], raw[3]
        self.data = b""
        self.le: int | None = None
        body = raw[4:]
        if not body:
            return
        if len(body) == 1:
            self.le = body[0] or 256
            return
        if body[0] != 0:
            lc = body[0]
            if len(body) == 1 + lc:
                self.data = body[1:]
            elif len(body) == 2 + lc:
                self.data, self.le = body[1:-1], body[-1] or 256
            else:
                raise ValueError("Lc does not match")
            return
        # extended length
        if len(body) == 3:
            self.le = int.from_bytes(body[1:3], "big") or 65536
            return
        lc = int.from_bytes(body[1:3], "big")
        if len(body) == 3 + lc:
            self.data = body[3:]
        elif len(body) == 5 + lc:
            self.data, self.le = body[3:-2], int.from_bytes(body[-2:], "big") or 65536
        else:
            raise ValueError("extended Lc does not match")


class Card:
    """An emulated card. `process(apdu) -> response` is all a transport needs."""

    kind = "other"

    def __init__(self, mf: DF, atr: bytes, behaviour: Behaviour | None = None):
        self.mf = mf
        self.atr = atr
        self.behaviour = behaviour or Behaviour()
        self.lock = threading.RLock()
        self.apdus_processed = 0
        self.reset()

    # -- state ----------------------------------------------------------------------
    def reset(self):
        with self.lock:
            self.current_df: DF = self.mf
            self.current_ef: EF | None = None
            self.verified: set[str] = set()
            self._pending = b""

    def all_pins(self) -> dict[str, Pin]:
        return {p.id: p for df in self.mf.walk() for p in df.pins()}

    def _select_df(self, df: DF):
        keep = {p.id for d in df.ancestors() for p in d.pins()}
        self.verified &= keep
        self.current_df, self.current_ef = df, None

    # -- APDUs ------------------------------------------------------------------------
    def process(self, raw: bytes) -> bytes:
        with self.lock:
            self.apdus_processed += 1
            try:
                apdu = ParsedAPDU(bytes(raw))
            except ValueError:
                return sw(0x6700)
            if apdu.ins == 0xC0 and apdu.cla == 0x00:
                return self._get_response(apdu)
            self._pending = b""
            if apdu.cla != 0x00:
                return sw(0x6E00)
            handler = {0xA4: self._select, 0xB0: self._read_binary, 0x20: self._verify}.get(apdu.ins)
            if handler is None:
                return sw(0x6D00)
            data, status = handler(apdu)
            if data and self.behaviour.get_response:
                self._pending = data
                return sw(0x6100 | (len(data) if len(data) < 256 else 0))
            return data + sw(status)

    def _get_response(self, apdu: ParsedAPDU) -> bytes:
        if not self._pending:
            return sw(0x6985)
        want = apdu.le or 256
        if want > len(self._pending):
            return sw(0x6C00 | len(self._pending))
        chunk, self._pending = self._pending[:want], self._pending[want:]
        if self._pending:
            return chunk + sw(0x6100 | (len(self._pending) if len(self._pending) < 256 else 0))
        return chunk + SW_OK

    def _find_aid(self, aid: bytes) -> DF | None:
        for df in self.mf.walk():
            if df.aid == aid:
                return df
        return None

    def _select(self, apdu: ParsedAPDU) -> tuple[bytes, int]:
        if apdu.p1 == 0x04:
            df = self._find_aid(apdu.data)
            if df is None:
                return b"", 0x6A82
            self._select_df(df)
            if apdu.p2 == 0x0C:
                return b"", 0x9000
            if apdu.p2 in (0x00, 0x04):
                return b"\x6F" + bytes([len(apdu.data) + 2, 0x84, len(apdu.data)]) + apdu.data, 0x9000
            return b"", 0x6A86
        if apdu.p1 == 0x00:
            if apdu.data not in (b"", b"\x3F\x00"):
                return b"", 0x6A82
            if self.behaviour.select_mf != "9000":
                return b"", int(self.behaviour.select_mf, 16)
            self._select_df(self.mf)
            return b"", 0x9000
        if apdu.p1 == 0x02:
            if len(apdu.data) != 2:
                return b"", 0x6700
            ef = self.current_df.files.get(int.from_bytes(apdu.data, "big"))
            if ef is None:
                return b"", 0x6A82
            self.current_ef = ef
            return b"", 0x9000
        return b"", 0x6A86

    def _access_ok(self, ef: EF) -> bool:
        return ef.access is None or any(need <= self.verified for need in ef.access)

    def _read_binary(self, apdu: ParsedAPDU) -> tuple[bytes, int]:
        if apdu.p1 & 0x80:
            sfi = apdu.p1 & 0x1F
            ef = next((f for f in self.current_df.files.values() if f.sfi == sfi and f.pin is None), None)
            if ef is None:
                return b"", 0x6A82
            self.current_ef = ef
            offset = apdu.p2
        else:
            ef = self.current_ef
            if ef is None:
                return b"", 0x6986
            offset = ((apdu.p1 << 8) | apdu.p2) & 0x7FFF
        if ef.pin is not None:
            return b"", 0x6981
        if not self._access_ok(ef):
            return b"", 0x6982
        if apdu.le is None:
            return b"", 0x6700
        size = len(ef.content)
        if offset >= size:
            return b"", 0x6B00
        available = size - offset
        if apdu.le <= available:
            return ef.content[offset:offset + apdu.le], 0x9000
        mode = self.behaviour.read_past_end
        if mode == "6C":
            return b"", 0x6C00 | available
        return ef.content[offset:], (0x9000 if mode == "short" else 0x6282)

    def _verify(self, apdu: ParsedAPDU) -> tuple[bytes, int]:
        if apdu.p1 != 0x00:
            return b"", 0x6A86
        if apdu.p2 == 0x80:
            pin = self.current_ef.pin if self.current_ef else None
        elif 0x81 <= apdu.p2 <= 0x9E:
            pin = next((p for p in self.current_df.pins() if p.sfi == apdu.p2 & 0x1F), None)
        else:
            return b"", 0x6A86
        if pin is None:
            return b"", 0x6A88  # referenced data not found
        if pin.blocked:
            return b"", 0x6984
        if not apdu.data:  # tries left; uses none
            if pin.id in self.verified and self.behaviour.empty_verify_when_verified == "9000":
                return b"", 0x9000
            return b"", 0x63C0 | min(pin.tries, 15)
        if apdu.data == pin.value:
            pin.tries = pin.max_tries
            self.verified.add(pin.id)
            return b"", 0x9000
        pin.tries -= 1
        self.verified.discard(pin.id)
        return b"", 0x63C0 | min(pin.tries, 15)
