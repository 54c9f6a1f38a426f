"""`madoguchi kiosk …`: pairing the kiosk's browser, device tokens for kiosk PCs, and a kiosk
PC's upload queue."""
from __future__ import annotations

import os
from pathlib import Path

import click


@click.group()
def kiosk():
    """The kiosk's browser (pair), kiosk PCs' device tokens (office server) and upload queue (kiosk PC)."""


@kiosk.command()
@click.argument("kiosk_id", required=False)
@click.option("--url", "base_url", default=None,
              help="Address the kiosk's browser reaches this server at (default: from [server]).")
@click.option("--screen-env", type=click.Path(dir_okay=False), default=None,
              help="Also write KIOSK_URL=<the URL> into this file, the kiosk screen unit's EnvironmentFile "
                   "(e.g. /var/lib/madoguchi/kiosk-screen.env); then restart madoguchi-kiosk-screen.")
@click.pass_obj
def pair(state, kiosk_id, base_url, screen_env):
    """Print a one-time URL that makes the browser opening it this kiosk's own (run on the machine
    that serves the kiosk; KIOSK_ID defaults to [kiosk].kiosk_id, and must be it)."""
    from kiosk import pairing
    from web.serve import port_for

    config = state.config
    own = config.kiosk.kiosk_id
    if kiosk_id and kiosk_id != own:
        raise click.ClickException(f"this server is kiosk {own!r} ([kiosk].kiosk_id), not {kiosk_id!r}")
    if not base_url:
        surface = config.server.surfaces
        if surface not in ("all", "kiosk"):
            surface = "kiosk"
        base_url = f"http://{config.server.host}:{port_for(config, surface)}"
    code = pairing.new_code(state.db(), own)
    url = pairing.pairing_url(base_url, code)
    click.echo(url)
    if screen_env:
        # The screen starts on this URL from now on: once paired, the pairing page sends a paired
        # browser straight to the kiosk. Root reads the file for the unit; nobody else needs to.
        from core.private_files import create_private
        path = Path(screen_env)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.unlink(missing_ok=True)
        with os.fdopen(create_private(tmp), "w") as f:
            f.write(f"KIOSK_URL={url}\n")
        os.replace(tmp, path)
        click.echo(f"wrote {path}: restart the screen (systemctl restart madoguchi-kiosk-screen)", err=True)
    click.echo(f"Open it in kiosk {own}'s browser within {pairing.CODE_MINUTES} minutes (it works once);"
               " the browser paired before stops being the kiosk.", err=True)


@kiosk.command()
@click.argument("kiosk_id")
@click.option("--prefix", required=True,
              help="The kiosk PC's reception prefix ([kiosk].reception_prefix there): its own letters.")
@click.pass_obj
def token(state, kiosk_id, prefix):
    """Print the device token of KIOSK_ID (run on the office server; put it in that kiosk
    PC's [keys].kiosk_device_token). The office takes only reception numbers with PREFIX from it."""
    from core.keys import kiosk_device_token
    from kiosk.office import device_token
    if prefix == state.config.kiosk.reception_prefix:
        raise click.ClickException(f"{prefix!r} is this office's own kiosk prefix ([kiosk].reception_prefix);"
                                   " give each kiosk PC letters of its own")
    click.echo(device_token(kiosk_device_token(state.config), kiosk_id, prefix))


@kiosk.command()
@click.option("--send", is_flag=True, help="Try to deliver every waiting application now.")
@click.pass_obj
def queue(state, send):
    """Applications this kiosk PC still has to hand to the office server."""
    from kiosk.office import OfficeClient

    config = state.config
    if not config.kiosk.office_server_url:
        raise click.ClickException("[kiosk].office_server_url is not set: this is not a kiosk PC")
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
