"""Our own emulated ID cards: an ISO 7816 engine, the two card layouts, personas, and
the vpcd link that puts an emulated card behind pcscd as a real PC/SC reader."""
from hardware.cards.emulator.persona import Persona, PersonaError, load  # noqa: F401


def load_card(path):
    """A fresh emulated card built from a persona file."""
    return load(path).build_card()
