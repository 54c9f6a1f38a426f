"""`madoguchi site new DIR` and `madoguchi site check [DIR]`: a city's own folder (core.site)."""
from __future__ import annotations

from pathlib import Path

import click

from core.site import LANGS, check_site, is_lgu_code, lgu_check_digit, site_folder

# The starting folder: its files with {{name}}, {{code}}, {{addressee}} and {{office}} filled in.
TEMPLATE = Path(__file__).resolve().parent / "site_template"


def _table(text: str) -> str:
    """A TOML inline table with the same text in every language (the city translates later)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return "{ " + ", ".join(f'{lang} = "{escaped}"' for lang in LANGS) + " }"


@click.group()
def site():
    """The city's own folder: its name, offices, procedures and forms."""


@site.command("new")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="The municipality's name, e.g. 〇〇市.")
@click.option("--code", required=True, help="Its 地方公共団体コード (6 digits with the check digit).")
def new(folder: Path, name: str, code: str):
    """Write a starting site folder for a city (FOLDER must not exist yet)."""
    name = name.strip()
    if not name or any(c in name for c in "\n\r\t"):
        raise click.BadParameter("give the municipality's name on one line", param_hint="--name")
    if not is_lgu_code(code):
        hint = f" (for {code[:5]} it is {code[:5]}{lgu_check_digit(code[:5])})" if code[:5].isdigit() and \
            len(code) >= 5 and code[:5].isascii() else ""
        raise click.BadParameter(f"is not a 地方公共団体コード with a right check digit{hint}", param_hint="--code")
    if folder.exists():
        raise click.ClickException(f"{folder} exists already: give a new folder")
    values = {"name": _table(name), "code": code, "addressee": _table(f"{name}長　あて"),
              "office": _table(f"{name}役所")}
    for source in sorted(TEMPLATE.rglob("*")):
        target = folder / source.relative_to(TEMPLATE)
        if source.is_dir():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text("utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        target.write_text(text, "utf-8")
    (folder / "procedures" / "layouts").mkdir(exist_ok=True)
    (folder / "procedures" / "backgrounds").mkdir(exist_ok=True)
    problems = check_site(folder)
    if problems:   # what we write must pass our own check
        raise click.ClickException("the new folder does not pass `site check`: " + "; ".join(problems))
    click.echo(f"wrote {folder}: set [site].folder = \"{folder}\" in config.toml, then edit site.toml and "
               "offices.toml (`madoguchi site check` checks them)")


@site.command("check")
@click.argument("folder", required=False, type=click.Path(path_type=Path))
@click.pass_obj
def check(state, folder: Path | None):
    """Check a site folder (default: the one config.toml names); every problem names its file, line and key."""
    if folder is None:
        folder = site_folder(state.config_without_site())
        if folder is None:
            raise click.ClickException("no site folder: [site].folder is empty")
    problems = check_site(folder)
    for line in problems:
        click.echo(line)
    if problems:
        raise click.ClickException(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in {folder}")
    click.echo(f"{folder}: the site folder is good")
