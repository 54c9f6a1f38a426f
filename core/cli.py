"""The `madoguchi` command line.

Command groups that need devices or Flask live beside their code and are imported only
when used, so `core` itself imports no Flask, OpenCV, pyscard or CUPS, and `--help` is quick.
Every error is one line on stderr, never a traceback.
"""
from __future__ import annotations

import importlib
import json
import sys

import click

from core.errors import MadoguchiError

# name → "module:attribute" of a click command, loaded on first use.
LAZY_COMMANDS = {
    "card": "hardware.cards.cli:card",
    "scan": "hardware.camera.cli:scan",
    "form": "printing.cli:form",
    "purge": "prereg.cli:purge",
    "users": "counter.cli:users",
    "forward": "counter.forwarding_cli:forward",
    "exchange-log": "counter.forwarding_cli:exchange_log",
    "backend-sim": "counter.backend_sim:backend_sim",
    "kiosk": "kiosk.cli:kiosk",
    "site": "core.site_cli:site",
    "doctor": "web.doctor:doctor",
    "deploy": "web.deploy:deploy",
    "backup": "core.operations_cli:backup",
    "restore": "core.operations_cli:restore",
    "purge-personal": "core.operations_cli:purge_personal",
    "tenants": "core.tenants_cli:tenants",
}


class MadoguchiGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | {n for n in LAZY_COMMANDS if self._load(n)})

    def get_command(self, ctx, name):
        return super().get_command(ctx, name) or self._load(name)

    @staticmethod
    def _load(name):
        target = LAZY_COMMANDS.get(name)
        if not target:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MadoguchiError as e:
            raise click.ClickException(str(e)) from None


def register_every_surface() -> None:
    """Import every surface, so each registers its tables: a whole database is migrated."""
    from web import SURFACES
    for surface in SURFACES:
        importlib.import_module(surface)


class State:
    def __init__(self, config_path):
        self.config_path = config_path
        self._config = None

    @property
    def config(self):
        if self._config is None:
            from core.site import activate, site_for
            config = self.config_without_site()
            activate(site_for(config))   # every command uses the city's catalogue and offices
            self._config = config
        return self._config

    def config_without_site(self):
        """The config alone, for `site check` of a folder that may be broken."""
        from core.config import load_config
        return load_config(self.config_path)

    def db(self, every_town: bool = False):
        """The database; a role that sees every town's rows only for `every_town` commands (init, tenants)."""
        from core.store.db import open_from_config
        from core.store.tenancy import refuse_if_seeing_every_town
        db = open_from_config(self.config)
        if not every_town:
            refuse_if_seeing_every_town(db)
        return db


pass_state = click.make_pass_decorator(State)


@click.group(cls=MadoguchiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="MADOGUCHI_CONFIG",
              help="Config file (default: ./config.toml, or $MADOGUCHI_CONFIG).")
@click.pass_context
def main(ctx, config_path):
    """madoguchi: a no-writing counter (書かない窓口) for city halls."""
    ctx.obj = State(config_path)
    if ctx.invoked_subcommand not in (None, "site"):
        _ = ctx.obj.config   # loads the config and activates its site folder (a broken one stops here)


@main.command()
@click.option("--surface", type=click.Choice(["all", "prereg", "kiosk", "counter"]), default=None,
              help="Which surface to serve (default: [server].surfaces).")
@click.option("--port", type=int, default=None, help="Port (default: from config).")
@click.option("--host", default=None, help="Address to listen on (default: [server].host).")
@pass_state
def serve(state, surface, port, host):
    """Serve the web surfaces (and their background services)."""
    from web.serve import serve as run
    run(state.config, surface=surface, port=port, host=host)


@main.command()
@click.option("--demo/--no-demo", default=True, help="Add demo applications when the database is empty.")
@pass_state
def init(state, demo):
    """Create the database, keys and demo data (safe to run again)."""
    from core import demo as demo_data
    from core.keys import ensure_keys

    register_every_surface()
    from counter.demo import add_demo_data as counter_demo

    config = state.config
    db = state.db(every_town=True)   # the owner migrates the shared database
    ensure_keys(config)
    added = demo_data.add_demo_data(config, db, surface_demos=[counter_demo]) if demo else 0
    click.echo(f"database ready: {config.path(config.storage.path)}")
    if added:
        click.echo(f"demo data: {added} applications")


@main.group()
def procedures():
    """The procedure catalogue."""


@procedures.command("list")
def procedures_list():
    """One procedure per line: id, Japanese name, English name."""
    from core.catalogue import get_catalogue
    for proc in get_catalogue().procedures.values():
        click.echo(f"{proc.id}\t{proc.title('ja')}\t{proc.title('en')}")


@procedures.command("version")
def procedures_version():
    """The catalogue's version: a hash of its files (built-in and the site folder's), as forwarded records name it."""
    from core.catalogue import get_catalogue
    click.echo(get_catalogue().version)


@procedures.command("show")
@click.argument("procedure_id")
@click.option("--lang", default="ja", help="Language of labels.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def procedures_show(procedure_id, lang, as_json):
    """Show one procedure: its fields, what the card fills, its life events."""
    from core.catalogue import get_catalogue
    cat = get_catalogue()
    proc = cat.get(procedure_id)
    fields = cat.fields_for([proc.id])
    if as_json:
        click.echo(json.dumps({
            "id": proc.id, "names": proc.names, "form_title": proc.form_title,
            "life_events": list(proc.life_events), "card_fills": list(proc.card_fills),
            "fields": [{"name": f.name, "type": f.type, "required": f.required,
                        "label": f.label_in(lang), **({"choices": list(f.choices)} if f.choices else {})}
                       for f in fields],
        }, ensure_ascii=False, indent=2))
        return
    click.echo(f"{proc.id}: {proc.title(lang)} ({proc.title('en')})")
    click.echo(f"  {proc.name(lang)}")
    if proc.life_events:
        click.echo("  life events: " + ", ".join(
            f"{e} ({cat.life_events[e].name(lang)})" if e in cat.life_events else e for e in proc.life_events))
    click.echo("  filled from the card: " + (", ".join(proc.card_fills) or "-"))
    click.echo("  fields:")
    for f in fields:
        mark = "*" if f.required else " "
        extra = f" [{', '.join(f.choices)}]" if f.choices else ""
        click.echo(f"   {mark} {f.name:<32} {f.type:<12} {f.label_in(lang)}{extra}")


def run():
    """Console-script entry point."""
    try:
        main(standalone_mode=True)
    except MadoguchiError as e:  # raised while loading config before a command runs
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
