"""Card reading: My Number card (券面事項入力補助AP) and IC driver's licence.

    reader = open_reader(config)        # [devices].card_reader: "pcsc" | "emulated"
    reader.tries_left()                 # TriesLeft(card, tries): uses no try
    reader.read(pin)                    # CardData; CardError subclasses with .code
    reader_status(config)               # "ready" | "no_reader" | "no_service" (for /healthz)
    monitor = CardMonitor(config)       # monitor.events: {"type": "inserted"|"removed", "reader"}
    monitor.stop()

See hardware/cards/README.md for the protocol, the emulator and its personas.
"""
from hardware.cards.errors import (  # noqa: F401
    Blocked,
    CardError,
    CardRemoved,
    CardUnreadable,
    InvalidPin,
    LastTryRefused,
    NoCard,
    NoReader,
    UnknownCard,
    WrongPin,
)
from hardware.cards.jisx0208 import Gaiji  # noqa: F401
from hardware.cards.model import CardData, TriesLeft  # noqa: F401
from hardware.cards.monitor import CardMonitor  # noqa: F401
from hardware.cards.reader import CardReader, EmulatedReader, open_reader, reader_status  # noqa: F401
