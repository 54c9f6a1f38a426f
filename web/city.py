"""The active site folder (core.site) on every surface's pages: the municipality's name and logo
in the header and the page titles, its colours as a generated stylesheet, its privacy notice,
and "where to go next" from its offices.

Routes (no path parameter, so nothing but the two things named can be served):
    /site/logo       the one logo file site.toml names, with its own content type
    /site/theme.css  CSS custom properties (--site-*) from the site's colours; the surfaces' CSS
                     uses them with the built-in colours as fallbacks (the CSP allows only
                     same-origin stylesheets, never a style attribute)
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, abort, g, request, send_file, url_for
from flask_babel import gettext as _

from core.catalogue import Catalogue, text_in
from core.colour import BLACK, WHITE, mix, readable_on, text_on
from core.site import LOGO_TYPES, Site, current_site

CACHE_SECONDS = 24 * 3600
BAR_CONTRAST = 7.0


def theme_properties(site: Site) -> dict[str, str]:
    """The site's colours as the custom properties the surfaces' CSS reads.

    Every colour used for text reads at 4.5:1 or more on its background: text on a site colour
    is white or black (whichever reads better); the primary colour as text on white and on its
    light tint is darkened until it reads."""
    props: dict[str, str] = {}
    primary = site.colours.get("primary")
    if primary:
        light = mix(primary, WHITE, 0.9)
        # The bar's text reads at 7:1 on it, so the kiosk's dimmed steps (opacity .85) still read at 4.5:1.
        dark = readable_on(mix(primary, BLACK, 0.35), light, BAR_CONTRAST)
        props.update({
            "--site-primary": primary,              # buttons, borders, the selected choice
            "--site-on-primary": text_on(primary),
            "--site-primary-dark": dark,            # the header bar; headings and numbers as text
            "--site-on-primary-dark": text_on(dark),
            "--site-primary-light": light,          # tinted panels, under primary-text or dark text
            "--site-primary-text": readable_on(primary, light),   # links and outlined buttons
        })
    accent = site.colours.get("accent")
    if accent:
        props.update({"--site-accent": accent, "--site-on-accent": text_on(accent)})
    return props


def theme_css(site: Site) -> str:
    return _theme_css(tuple(sorted(site.colours.items())))


@functools.lru_cache(maxsize=8)
def _theme_css(colours: tuple[tuple[str, str], ...]) -> str:
    # Every page names the theme by its hash: worked out once per set of colours.
    props = theme_properties(Site(colours=dict(colours)))
    body = "".join(f"  {name}: {value};\n" for name, value in props.items())
    return f"/* The site's colours (web/city.py) */\n:root {{\n{body}}}\n" if props else "/* No site colours */\n"


def theme_version(site: Site) -> str:
    return _version(theme_css(site).encode())


def _version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def logo_version(site: Site) -> str | None:
    if not site.logo:
        return None
    try:
        st = site.logo.stat()
    except OSError:
        return None
    return _version(f"{site.logo}:{st.st_size}:{st.st_mtime_ns}".encode())


def lang() -> str:
    return g.get("lang") or "ja"


# --- where to go next --------------------------------------------------------------------------

@dataclass
class Place:
    """A window visitors take forms to: a section of an office, or a procedure's own section text
    when no office's section takes it."""

    section: str
    where: str = ""                  # "1階 3番窓口"
    hours: str = ""
    forms: list[str] = field(default_factory=list)
    bring: list[str] = field(default_factory=list)


@dataclass
class OfficePlaces:
    name: str
    address: str
    hours: str
    places: list[Place]


def floor_and_window(floor: str, window: str) -> str:
    if floor and window:
        return _("Floor %(floor)s, window %(window)s", floor=floor, window=window)
    if floor:
        return _("Floor %(floor)s", floor=floor)
    if window:
        return _("Window %(window)s", window=window)
    return ""


def _add(place: Place, proc, language: str) -> None:
    place.forms.append(proc.title(language))
    for item in text_in(proc.what_to_bring, language) or []:
        if item not in place.bring:
            place.bring.append(item)


def places_in_office(procedure_ids: list[str], catalogue: Catalogue, office_id: str | None,
                     site: Site | None = None) -> tuple[OfficePlaces | None, list[Place]]:
    """Where each form goes in one office: its sections that take them (in the office's order),
    and, for the forms none of them takes, the procedures' own section texts."""
    site = site or current_site()
    language = lang()
    procs = [catalogue.get(p) for p in procedure_ids if p in catalogue.procedures]
    office = site.office(office_id)
    taken: set[str] = set()
    in_office: OfficePlaces | None = None
    if office:
        office_hours = text_in(office.hours, language)
        places = []
        for section in office.sections:
            mine = [p for p in procs if p.id in section.procedures]
            if not mine:
                continue
            place = Place(text_in(section.name, language), floor_and_window(section.floor, section.window),
                          text_in(section.hours, language) or office_hours)
            for p in mine:
                _add(place, p, language)
                taken.add(p.id)
            places.append(place)
        if places:
            in_office = OfficePlaces(text_in(office.name, language), office.address, office_hours, places)
    return in_office, fallback_places([p for p in procs if p.id not in taken])


def fallback_places(procs: list, language: str | None = None) -> list[Place]:
    """Forms no office section takes: grouped by the procedure's own `section` text (as before sites)."""
    language = language or lang()
    out: dict[str, Place] = {}
    for p in procs:
        name = text_in(p.section, language) or _("The counter")
        _add(out.setdefault(name, Place(name)), p, language)
    return list(out.values())


def places_in_every_office(procedure_ids: list[str], catalogue: Catalogue,
                           site: Site | None = None) -> tuple[list[OfficePlaces], list[Place]]:
    """Every office that takes any of the forms (the main office first), with its sections; and
    the forms no office takes, by their procedures' own section texts."""
    site = site or current_site()
    offices: list[OfficePlaces] = []
    taken: set[str] = set()
    for office in site.offices:
        in_office, _rest = places_in_office(procedure_ids, catalogue, office.id, site)
        if in_office:
            offices.append(in_office)
            taken.update(pid for s in office.sections for pid in s.procedures)
    rest = [catalogue.get(p) for p in procedure_ids if p in catalogue.procedures and p not in taken]
    return offices, fallback_places(rest)


# --- the app -------------------------------------------------------------------------------------

def page_helpers() -> dict[str, Any]:
    site = current_site()
    version = logo_version(site)
    return {
        "site_name": text_in(site.name, lang()),
        "site_logo_url": url_for("site_logo", v=version) if version else None,
        "site_theme_url": url_for("site_theme", v=theme_version(site)),
        "site_privacy_notice": text_in(site.privacy_notice, lang()),
    }


def init_app(app: Flask) -> None:
    app.context_processor(page_helpers)

    @app.get("/site/logo", endpoint="site_logo")
    def logo():
        site = current_site()
        if not site.logo or not site.logo.is_file():
            abort(404)
        response = send_file(site.logo, mimetype=LOGO_TYPES[site.logo.suffix.lower()],
                             max_age=CACHE_SECONDS, conditional=True, etag=True)
        response.cache_control.public = True
        # An SVG opened on its own is a document: let it run nothing.
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        return response

    @app.get("/site/theme.css", endpoint="site_theme")
    def theme():
        css = theme_css(current_site())
        response = Response(css, mimetype="text/css")
        response.cache_control.public = True
        response.cache_control.max_age = CACHE_SECONDS
        response.set_etag(theme_version(current_site()))
        return response.make_conditional(request)
