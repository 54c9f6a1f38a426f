"""`madoguchi deploy`: the systemd units and the TLS proxy's configuration, written for this machine.

The templates live beside this module (web/deploy/): the units share one block of hardening
(hardening.conf), and every path in them comes from here, so the units name the madoguchi
this command belongs to.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from core.cli import pass_state

TEMPLATES = Path(__file__).resolve().parent / "deploy"
PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
UNITS = ("madoguchi-office", "madoguchi-prereg", "madoguchi-forwarder", "madoguchi-kiosk", "madoguchi-kiosk-screen",
         "madoguchi-backup")
# What a town sharing the server's database runs there (`--town`); its kiosks have their own PCs.
TOWN_UNITS = ("madoguchi-office", "madoguchi-prereg", "madoguchi-forwarder", "madoguchi-backup")


def render(template: str, values: dict[str, str]) -> str:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    values = {"HARDENING": hardening(), **values}
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = sorted(set(PLACEHOLDER.findall(text)))
    if left:
        raise click.ClickException(f"{template}: no value for {', '.join(left)}")
    return text


def hardening() -> str:
    return (TEMPLATES / "hardening.conf").read_text(encoding="utf-8").rstrip("\n")


def unit_values(*, user: str, config: Path, state_dir: Path, screen_user: str, kiosk_url: str,
                health_url: str, screen_env: Path) -> dict[str, str]:
    exe = Path(sys.executable)
    return {"USER": user, "CONFIG": str(config), "STATE_DIR": str(state_dir), "STATE_NAME": state_dir.name,
            "MADOGUCHI": str(exe.parent / "madoguchi"), "PYTHON": str(exe), "SCREEN_USER": screen_user,
            "SCREEN_STATE_NAME": f"{state_dir.name}-screen", "KIOSK_URL": kiosk_url, "HEALTH_URL": health_url,
            "SCREEN_ENV": str(screen_env)}


def write_units(out: Path, values: dict[str, str], units=UNITS, town: str | None = None) -> list[Path]:
    """`town`: the units of one town of a shared database, named madoguchi-office-<town>… (a timer
    starts the service of its own name)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in units:
        for kind in ("service", "timer"):    # a unit run by a timer has both
            if kind == "timer" and not (TEMPLATES / f"{name}.timer.in").exists():
                continue
            path = out / (f"{name}-{town}.{kind}" if town else f"{name}.{kind}")
            path.write_text(render(f"{name}.{kind}.in", values), encoding="utf-8")
            os.chmod(path, 0o644)
            written.append(path)
    return written


def write_nginx(out: Path, *, server_name: str, cert: Path, key: Path, upstreams: list[str], https_port: int = 443,
                http_port: int = 80) -> list[Path]:
    """nginx's site for `server_name` in front of `upstreams` ("127.0.0.1:8003", …: one or several
    madoguchi servers on one database, a kiosk's browser kept on one of them)."""
    out.mkdir(parents=True, exist_ok=True)
    proxy = out / "madoguchi-proxy.conf"
    proxy.write_text((TEMPLATES / "madoguchi-proxy.conf").read_text(encoding="utf-8"), encoding="utf-8")
    site = out / f"madoguchi-{server_name}.conf"
    site.write_text(render("nginx-madoguchi.conf.in", {
        "SERVER_NAME": server_name, "CERT": str(cert), "KEY": str(key),
        "UPSTREAM": "madoguchi_" + re.sub(r"[^A-Za-z0-9]", "_", server_name),
        "SERVERS": "\n".join(f"    server {u};" for u in upstreams),
        "HTTPS_PORT": str(https_port), "HTTP_PORT": str(http_port), "INCLUDE_DIR": str(out)}), encoding="utf-8")
    return [proxy, site]


@click.group()
def deploy():
    """Write this machine's systemd units, or the TLS proxy's configuration (docs/deploy.md)."""


@deploy.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("/etc/systemd/system"),
              show_default=True)
@click.option("--user", default="madoguchi", show_default=True, help="The services' own user (never root).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              show_default="/etc/madoguchi/config.toml (with --town: /etc/madoguchi/TOWN.toml)")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              show_default="/var/lib/madoguchi (with --town: /var/lib/madoguchi-TOWN)",
              help="systemd's StateDirectory: the database, keys and printed PDFs.")
@click.option("--town", help="A town of a shared PostgreSQL database (`madoguchi tenants`): its office, prereg,"
                             " forwarder and backup units, named madoguchi-office-TOWN…")
@click.option("--screen-user", default="kiosk", show_default=True, help="The kiosk screen's login user.")
@click.option("--screen-env", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("/var/lib/madoguchi/kiosk-screen.env"), show_default=True)
@click.option("--only", multiple=True, type=click.Choice(UNITS), help="Write only these units.")
@pass_state
def units(state, out, user, config_path, state_dir, town, screen_user, screen_env, only):
    """The systemd units: office server, prereg server, forwarder, kiosk server, kiosk screen, and
    the nightly backup (a service and its timer)."""
    if user == "root":
        raise click.ClickException("the services must not run as root: give them a user of their own")
    from core.store.tenancy import TENANT_ID_RE
    if town is not None and not TENANT_ID_RE.match(town):
        raise click.ClickException("--town is a tenant id: lower-case letters, digits or _, starting with a letter")
    if town and set(only) - set(TOWN_UNITS):
        raise click.ClickException(f"a town's units are {', '.join(TOWN_UNITS)}: its kiosks run on their own PCs")
    config_path = config_path or Path(f"/etc/madoguchi/{town}.toml" if town else "/etc/madoguchi/config.toml")
    state_dir = state_dir or Path(f"/var/lib/madoguchi-{town}" if town else "/var/lib/madoguchi")
    kiosk_port = state.config.server.kiosk_port
    values = unit_values(user=user, config=config_path, state_dir=state_dir, screen_user=screen_user,
                         kiosk_url=f"http://127.0.0.1:{kiosk_port}/kiosk/",
                         health_url=f"http://127.0.0.1:{kiosk_port}/healthz", screen_env=screen_env)
    for path in write_units(out, values, only or (TOWN_UNITS if town else UNITS), town):
        click.echo(path)


@deploy.command()
@click.option("--server-name", required=True, help="The name the certificate is for, e.g. madoguchi.city.example.jp.")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--upstream", "upstreams", multiple=True, metavar="HOST:PORT",
              help="A madoguchi server behind the proxy; give it again for several on one database "
                   "(default: 127.0.0.1:[server].port).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("/etc/nginx/conf.d"),
              show_default=True)
@pass_state
def nginx(state, server_name, cert, key, upstreams, out):
    """nginx in front: TLS, HTTP→HTTPS, and the headers madoguchi's [server].behind_tls trusts."""
    for u in upstreams:
        if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", u):
            raise click.ClickException(f"--upstream must be HOST:PORT, not {u!r}")
    upstreams = list(upstreams) or [f"127.0.0.1:{state.config.server.port}"]
    for path in write_nginx(out, server_name=server_name, cert=cert, key=key, upstreams=upstreams):
        click.echo(path)
