"""APDUs sent and wall time of a full card read, on each transport.

    .venv/bin/python bench/cards.py [--rounds N]

A full read = detect the card, ask the tries left (empty VERIFY), VERIFY, read the fields.
Target: ≤ 6 APDUs for the My Number card's four fields, tries check included.
The PC/SC rows go pyscard → pcscd → vpcd → our emulator (pcscd is started when it is not
running, under the same lock the tests use).
"""
from __future__ import annotations

import argparse
import fcntl
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hardware.cards.direct import EmulatedSlot  # noqa: E402
from hardware.cards.emulator import load_card  # noqa: E402
from hardware.cards.emulator.vpcd import VpcdLink  # noqa: E402
from hardware.cards.reader import CardReader, EmulatedReader  # noqa: E402
from hardware.cards.transport import PcscTransport  # noqa: E402

CASES = [  # persona, PIN, what
    ("mynumber_yamada.toml", "1234", "My Number, four fields"),
    ("mynumber_suzuki_long_address.toml", "8080", "My Number, address > 256 B"),
    ("mynumber_t0_quirks.toml", "1357", "My Number, 61xx/6Cxx card"),
    ("licence_watanabe_moved.toml", "1111", "licence + later address"),
]


def measure(reader, pin: str, rounds: int) -> tuple[int, float, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        reader.read(pin)
        times.append(time.perf_counter() - started)
    return reader.last_apdu_count, statistics.median(times) * 1000, max(times) * 1000


def direct_rows(rounds: int):
    for persona, pin, what in CASES:
        slot = EmulatedSlot("bench")
        slot.insert(load_card(ROOT / "hardware/cards/personas" / persona))
        yield ("direct", what, *measure(EmulatedReader(slot), pin, rounds))


def pcsc_rows(rounds: int):
    from tests.fixtures_cards import VPCD_LOCK, VPCD_READER, Pcscd, card_present, wait_for
    VPCD_LOCK.touch(exist_ok=True)
    with open(VPCD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pcscd = Pcscd(Path(tempfile.mkdtemp()))
        try:
            pcscd.ensure()
            for persona, pin, what in CASES:
                link = VpcdLink(load_card(ROOT / "hardware/cards/personas" / persona)).start()
                try:
                    wait_for(card_present, 10, what="the card")
                    yield ("PC/SC (vpcd)", what, *measure(CardReader(PcscTransport(VPCD_READER)), pin, rounds))
                finally:
                    link.stop()
                    wait_for(lambda: not card_present(), 10, what="the card to go")
        finally:
            pcscd.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    logging.getLogger("hardware.cards").setLevel(logging.ERROR)  # the quirky persona's sex code warns
    print(f"{'transport':<14} {'card':<30} {'APDUs':>5} {'median ms':>10} {'max ms':>8}")
    rows = list(direct_rows(args.rounds))
    try:
        rows += list(pcsc_rows(args.rounds))
    except Exception as e:  # noqa: BLE001 - a bench without pcscd still reports the direct rows
        print(f"PC/SC rows skipped: {e}", file=sys.stderr)
    for transport, what, apdus, median, worst in rows:
        print(f"{transport:<14} {what:<30} {apdus:>5} {median:>10.2f} {worst:>8.2f}")
    mynumber = [r for r in rows if r[1] == CASES[0][2]]
    ok = all(r[2] <= 6 for r in mynumber)
    print(f"target ≤ 6 APDUs for the My Number four fields (tries check included): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
