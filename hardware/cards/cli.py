"""`madoguchi card …`: read cards, check tries, and run emulated cards.

`tries` and `read` speak PC/SC (a real reader, or vpcd with `card emulate` behind it);
`--emulated` uses the in-process emulated card instead (no pcscd needed).

Exit codes of `read` (and `tries`): 0 done; 2 wrong PIN; 3 refused because only 1 try is
left; 4 blocked; 5 no card or no reader; 6 card removed, unreadable or unknown; 7 the PIN
typed is not 4 digits. On failure the JSON on stdout is {"error": code, "message", …}.
"""
from __future__ import annotations

import json
import signal
import sys

import click

from hardware.cards.errors import EXIT_CODES, CardError


def _emit(obj: dict):
    # JSON is UTF-8 whatever the terminal's locale.
    out = click.get_binary_stream("stdout")
    out.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")
    out.flush()


def _fail(error: CardError):
    body = {"error": error.code, "message": str(error)}
    if error.card:
        body["card"] = error.card
    if error.tries_left is not None:
        body["tries_left"] = error.tries_left
    _emit(body)
    click.echo(f"Error: {error}", err=True)
    sys.exit(EXIT_CODES.get(error.code, 6))


def _reader(ctx, reader_name, emulated, persona):
    if emulated:
        from hardware.cards import direct
        from hardware.cards.reader import EmulatedReader
        if persona is None:
            persona = ctx.obj.config.devices.emulator_persona if ctx.obj else "mynumber_yamada.toml"
        return EmulatedReader(direct.slot(direct.DEFAULT_SLOT, persona))
    from hardware.cards.reader import CardReader
    from hardware.cards.transport import PcscTransport
    if reader_name is None:
        reader_name = ctx.obj.config.devices.card_reader_name if ctx.obj else ""
    return CardReader(PcscTransport(reader_name))


reader_option = click.option("--reader", "reader_name", default=None, metavar="NAME",
                             help="PC/SC reader (part of its name); default [devices].card_reader_name, "
                                  "else the first reader holding a card.")
emulated_option = click.option("--emulated", is_flag=True,
                               help="Use the in-process emulated card instead of PC/SC.")
persona_option = click.option("--persona", type=click.Path(dir_okay=False), default=None,
                              help="With --emulated: the persona file (default [devices].emulator_persona).")


@click.group()
def card():
    """ID card readers (My Number card, driver's licence) and emulated cards."""


@card.command()
@reader_option
@emulated_option
@persona_option
@click.pass_context
def tries(ctx, reader_name, emulated, persona):
    """Print the PIN tries left as JSON, using none."""
    try:
        result = _reader(ctx, reader_name, emulated, persona).tries_left()
    except CardError as e:
        _fail(e)
    _emit(result.as_dict())


@card.command()
@reader_option
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from standard input (first line).")
@click.option("--allow-last-try", is_flag=True,
              help="Try even when only one try is left (at the counter, with the holder's consent).")
@click.option("--individual-number", is_flag=True,
              help="Also read the 個人番号 (only where a form legally needs it).")
@emulated_option
@persona_option
@click.pass_context
def read(ctx, reader_name, pin_stdin, allow_last_try, individual_number, emulated, persona):
    """Verify the PIN and print the card's fields as JSON.

    The PIN is never taken as an argument (it would show in the process list).
    """
    if pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = click.prompt("PIN", hide_input=True, err=True)
    try:
        data = _reader(ctx, reader_name, emulated, persona).read(
            pin, allow_last_try=allow_last_try, with_individual_number=individual_number)
    except CardError as e:
        _fail(e)
    _emit(data.as_dict())


@card.command()
@click.option("--persona", required=True, type=click.Path(dir_okay=False),
              help="Persona file (TOML); a shipped persona's file name is enough.")
@click.option("--vpcd", "vpcd_address", default=None, metavar="HOST:PORT",
              help="vpcd to connect to (default 127.0.0.1:35963, the reader \"Virtual PCD 00 00\").")
@click.option("--drop-after", type=int, default=None, hidden=True,
              help="Tests: leave the reader after this many APDUs.")
def emulate(persona, vpcd_address, drop_after):
    """Put an emulated card on the vpcd virtual reader until interrupted.

    Tries used up are kept in this process's memory; the persona file is never written.
    """
    import logging

    from hardware.cards.emulator import persona as personas
    from hardware.cards.emulator.vpcd import VpcdLink, parse_address
    # "waiting for vpcd", "card connected": what an operator wants to see on the terminal.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    loaded = personas.load(persona)
    host, port = parse_address(vpcd_address)
    link = VpcdLink(loaded.build_card(), host, port, drop_after=drop_after)

    def stop(signum, frame):
        link.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    kind = {"mynumber": "My Number card", "licence": "driver's licence"}.get(loaded.card, "card")
    click.echo(f"emulating a {kind} ({persona}) on vpcd {host}:{port}; Ctrl-C to stop", err=True)
    link.run()


@card.command()
def readers():
    """List the PC/SC readers pcscd knows."""
    from hardware.cards.transport import list_readers
    try:
        names = list_readers()
    except CardError as e:
        _fail(e)
    for name in names:
        click.echo(name)


@card.command()
@reader_option
@click.pass_context
def monitor(ctx, reader_name):
    """Print card insert/remove events as JSON lines until interrupted."""
    import queue

    from hardware.cards.monitor import CardMonitor
    # Always PC/SC: an in-process emulated card would have no one to put it down.
    mon = CardMonitor(ctx.obj.config.replace({"devices": {"card_reader": "pcsc"}}), reader_name=reader_name)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
    try:
        while not stopping:
            try:
                _emit(mon.events.get(timeout=0.2))
            except queue.Empty:
                pass
    except KeyboardInterrupt:
        pass
    finally:
        mon.stop()


@card.command()
def personas():
    """List the shipped personas (emulated cards)."""
    from hardware.cards.emulator import persona as personas_module
    for path in personas_module.shipped():
        p = personas_module.load(path)
        click.echo(f"{path.name}\t{p.card}\ttries={p.tries}")
