"""`madoguchi form …`: render and print application forms from a JSON form."""
from __future__ import annotations

import json
from pathlib import Path

import click

from core.cli import pass_state


def _read_form(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise click.ClickException(f"cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise click.ClickException(f"{path} is not JSON: {e.msg} (line {e.lineno})") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: an application's JSON form is an object")
    return data


def _render(procedure: str | None, data: dict, application_id: str | None) -> bytes:
    from printing import render_application, render_form
    if procedure:
        return render_form(procedure, data, application_id)
    if not data.get("procedures"):
        raise click.ClickException("name a PROCEDURE, or list them under \"procedures\" in the JSON form")
    return render_application(data, application_id)


def _check_id(application_id: str | None) -> None:
    from core.application import is_application_id
    if application_id and not is_application_id(application_id):
        raise click.ClickException("--application-id must be 16 characters of Crockford base32")


@click.group()
def form():
    """Application forms: render to PDF, print through CUPS."""


@form.command("render")
@click.argument("procedure", required=False)
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="The application's JSON form.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="PDF file to write.")
@click.option("--application-id", default=None,
              help="Print this application's QR code (without it the code box says 見本/SAMPLE).")
@pass_state
def render(state, procedure, data_path, out_path, application_id):
    """Render PROCEDURE's form (or every form listed in the JSON) to a PDF.

    Absent values leave their boxes blank; a character no font has, or a malformed value,
    stops with a one-line message naming the field.
    """
    _check_id(application_id)
    _ = state.config      # loading it activates the site: its layouts, and its name on the forms
    pdf = _render(procedure, _read_form(data_path), application_id)
    Path(out_path).write_bytes(pdf)
    click.echo(f"wrote {out_path} ({_pages(pdf)} page(s), {len(pdf) // 1024} KB)")


@form.command("print")
@click.argument("procedure", required=False)
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="The application's JSON form.")
@click.option("--queue", default=None, help="CUPS queue (default: [devices].printer; \"pdf-folder\" writes files).")
@click.option("--application-id", default=None, help="Print this application's QR code.")
@pass_state
def print_(state, procedure, data_path, queue, application_id):
    """Print PROCEDURE's form (or every form in the JSON) and wait for the job's end."""
    from hardware.printer import open_printer
    _check_id(application_id)
    data = _read_form(data_path)
    pdf = _render(procedure, data, application_id)
    printer = open_printer(state.config, queue)
    title = "madoguchi " + (procedure or "+".join(data.get("procedures", [])))
    result = printer.print_pdf(pdf, title + (f" {application_id}" if application_id else ""))
    where = f" ({result.path})" if result.path else ""
    click.echo(f"printed on {result.queue}: job {result.job_id} {result.state}{where}")


@form.command("background")
@click.argument("procedure")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="PDF file to write.")
@pass_state
def background(state, procedure, out_path):
    """Write PROCEDURE's blank form (a starting point for a city's own background)."""
    _ = state.config      # loading it activates the site: its layouts
    from core.catalogue import get_catalogue
    from printing.layout import background_pdf, load_layout
    catalogue = get_catalogue()
    pdf = background_pdf(load_layout(procedure, catalogue), catalogue)
    Path(out_path).write_bytes(pdf)
    click.echo(f"wrote {out_path} ({len(pdf) // 1024} KB)")


@form.command("import")
@click.argument("pdf_path", metavar="PDF", type=click.Path(dir_okay=False))
@click.option("--procedure", default=None,
              help="The procedure the form is for: match its fields, and copy the PDF into the site's "
                   "backgrounds folder as <procedure>.pdf.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Layout TOML to write (default: print it).")
@pass_state
def import_(state, pdf_path, procedure, out_path):
    """Read a city's blank form PDF and propose a layout for it.

    Finds the form's boxes and the labels beside them; a box whose label is a field's
    Japanese label (氏名, 住所, フリガナ…) gets that field as its source, the others are
    proposed in comments. Check the proposal before using it.
    """
    from core.catalogue import get_catalogue
    from core.errors import NotFound
    from core.site import current_site
    from printing.form_import import FormImportError, background_name, install_background, read_blank_form
    state.config  # noqa: B018 -- loads the config, which makes its site folder the active one
    try:
        pdf = Path(pdf_path).read_bytes()
    except OSError as e:
        raise click.ClickException(f"cannot read {pdf_path}: {e.strerror}") from None
    catalogue = get_catalogue()
    if procedure:
        try:
            catalogue.get(procedure)
        except NotFound:
            raise click.ClickException(f"unknown procedure {procedure} (see `madoguchi procedures list`)") from None
    try:
        proposal = read_blank_form(pdf, catalogue, procedure)
    except FormImportError as e:
        raise click.ClickException(f"{pdf_path}: {e} [{e.code}]") from None
    name = procedure or Path(pdf_path).stem
    text = proposal.toml(background_name(name), Path(pdf_path).name)
    if proposal.image_only:
        click.echo(f"{pdf_path}: the page is a picture (a scan) with no boxes or text to read [image_only]; "
                   "it can still be the background: place the fields by hand", err=True)
    else:
        matched = ", ".join(f"{f['source']}" for f in proposal.fields) or "none"
        click.echo(f"{pdf_path}: {len(proposal.fields) + len(proposal.unmatched)} box(es); with a field: "
                   f"{matched}; {len(proposal.unmatched)} without one (in comments)", err=True)
    if procedure:
        procedures_dir = current_site().procedures_dir
        if procedures_dir is None:
            raise click.ClickException("no site folder to copy the form into: set [site].folder in the config")
        target = install_background(pdf, procedures_dir, procedure)
        click.echo(f"copied the blank form to {target}", err=True)
    if out_path:
        Path(out_path).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out_path}", err=True)
    else:
        click.echo(text, nl=False)


@form.command("check")
@pass_state
def check(state):
    """Check every procedure's layout (fields off the page or over each other, sources, the
    background's size) and render it blank; each problem names the file, line and key."""
    from core.catalogue import get_catalogue
    from core.errors import MadoguchiError
    from printing import render_form
    from printing.layout import layout_path, layout_problems
    _ = state.config      # loading it activates the site: its procedures and layouts
    catalogue = get_catalogue()
    failed = 0
    for pid, proc in catalogue.procedures.items():
        try:
            problems = layout_problems(layout_path(proc), catalogue)
            if not problems:
                render_form(pid, {}, catalogue=catalogue)
        except MadoguchiError as e:
            problems = [str(e)]
        if problems:
            failed += 1
            for problem in problems:
                click.echo(f"error\t{pid}\t{problem}")
        else:
            click.echo(f"ok\t{pid}")
    if failed:
        raise click.ClickException(f"{failed} layout(s) have problems")


def _pages(pdf: bytes) -> int:
    import io

    from pypdf import PdfReader
    return len(PdfReader(io.BytesIO(pdf)).pages)
