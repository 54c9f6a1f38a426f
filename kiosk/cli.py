"""`madoguchi kiosk …`: device tokens for kiosk PCs, and a kiosk PC's upload queue."""
from __future__ import annotations

import click


@click.group()
def kiosk():
    """Kiosk PCs: device tokens (office server) and the upload queue (kiosk PC)."""


@kiosk.command()
@click.argument("kiosk_id")
@click.pass_obj
def token(state, kiosk_id):
    """Print the device token of KIOSK_ID (run on the office server; put it in that kiosk
    PC's [keys].kiosk_device_token)."""
    from core.keys import kiosk_device_token
    from kiosk.office import device_token
    click.echo(device_token(kiosk_device_token(state.config), kiosk_id))


@kiosk.command()
@click.option("--send", is_flag=True, help="Try to deliver every waiting application now.")
@click.pass_obj
def queue(state, send):
    """Applications this kiosk PC still has to hand to the office server."""
    from kiosk.office import OfficeClient

    config = state.config
    if not config.kiosk.office_url:
        raise click.ClickException("[kiosk].office_url is not set: this is not a kiosk PC")
    client = OfficeClient(config)
    db = state.db()
    if send:
        delivered, left = client.deliver_pending(db, force=True)
        click.echo(f"delivered {delivered}, waiting {left}")
    rows = client.pending(db)
    for row in rows:
        click.echo(f"{row['application_id']}\tattempts {row['attempts']}\tnext {row['next_attempt_at']}"
                   f"\t{row['last_error'] or ''}")
    if not rows:
        click.echo("nothing waiting")
