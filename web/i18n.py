"""Languages: ?lang= on any page switches and is remembered in a cookie."""
from __future__ import annotations

import io
from pathlib import Path

from flask import Flask, g, request
from flask_babel import Babel, Domain, get_locale

from core.config import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
COOKIE = "lang"
# Each surface keeps its own catalogue beside its code; Flask-Babel merges them.
TRANSLATION_DIRS = [ROOT / "web" / "translations", ROOT / "prereg" / "translations",
                    ROOT / "kiosk" / "translations", ROOT / "counter" / "translations"]


def current_language(app: Flask) -> str:
    cfg = app.config["MADOGUCHI"].languages
    available = cfg.available
    asked = request.args.get("lang")
    if asked in available:
        return asked
    remembered = request.cookies.get(COOKIE)
    if remembered in available:
        return remembered
    best = request.accept_languages.best_match([c for c in available if c != "ja-easy"])
    return best or cfg.default


# .mo files compiled in memory, by path, where the package's folder is not ours to write (an
# installed package run by the service's own user): the catalogues still load, only slower.
IN_MEMORY: dict[Path, bytes] = {}


def compile_catalogues() -> None:
    """Compile each .po to .mo when the .mo is missing or older, so no build step is needed.

    Written to a temporary file and renamed, so processes starting together never read half a file.
    """
    import os
    import tempfile

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for d in TRANSLATION_DIRS:
        for po in d.glob("*/LC_MESSAGES/*.po"):
            mo = po.with_suffix(".mo")
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            with open(po, "rb") as f:
                catalog = read_po(f)
            try:
                fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
            except OSError:
                buffer = io.BytesIO()
                write_mo(buffer, catalog)
                IN_MEMORY[mo] = buffer.getvalue()
                continue
            with os.fdopen(fd, "wb") as f:
                write_mo(f, catalog)
            os.chmod(tmp, 0o644)   # mkstemp's 0600 would hide it from another user of the package
            os.replace(tmp, mo)


class ExactDomain(Domain):
    """Loads `<dir>/<locale>/LC_MESSAGES/messages.mo` for exactly the asked locale.

    Flask-Babel finds catalogues with gettext.find, which expands "ja" through
    locale.normalize to "ja_JP" first, so plain Japanese pages would get the やさしい日本語
    catalogue (ja_JP). Here each locale gets its own files, and ja_JP falls back to ja.
    """

    FALLBACKS = {"ja_JP": "ja"}

    def __init__(self, directories: list[Path]):
        super().__init__(translation_directories=[str(d) for d in directories])
        self.directories = directories

    def _load(self, locale: str):
        from babel import support
        translations = support.Translations()
        for d in self.directories:
            mo = d / locale / "LC_MESSAGES" / "messages.mo"
            if mo in IN_MEMORY or mo.exists():
                with (io.BytesIO(IN_MEMORY[mo]) if mo in IN_MEMORY else open(mo, "rb")) as f:
                    catalog = support.Translations(f, domain="messages")
                translations.merge(catalog)
                translations.plural = catalog.plural
        fallback = self.FALLBACKS.get(locale)
        if fallback:
            translations.add_fallback(self._cached(fallback))
        return translations

    def _cached(self, locale: str):
        if locale not in self.cache:
            self.cache[locale] = self._load(locale)
        return self.cache[locale]

    def get_translations(self):
        from babel import support
        locale = get_locale()
        if locale is None:
            return support.NullTranslations()
        return self._cached(str(locale))


def init_app(app: Flask) -> None:
    compile_catalogues()
    dirs = ";".join(str(d) for d in TRANSLATION_DIRS if d.exists())
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = dirs or str(TRANSLATION_DIRS[0])
    app.config["BABEL_DEFAULT_LOCALE"] = "ja"

    def select_locale():
        return LANGUAGES[g.get("lang") or current_language(app)]["babel"]

    babel = Babel(app, locale_selector=select_locale)
    babel.domain_instance = ExactDomain([d for d in TRANSLATION_DIRS if d.exists()])

    @app.before_request
    def pick_language():
        g.lang = current_language(app)

    @app.after_request
    def remember_language(response):
        asked = request.args.get("lang")
        if asked and asked == g.get("lang") and request.cookies.get(COOKIE) != asked:
            response.set_cookie(COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax",
                                secure=app.config.get("SESSION_COOKIE_SECURE", False))
        return response

    @app.context_processor
    def language_helpers():
        available = app.config["MADOGUCHI"].languages.available
        return {"lang": g.get("lang"), "languages": [(c, LANGUAGES[c]["native"]) for c in available],
                "html_lang": "ja" if g.get("lang") == "ja-easy" else g.get("lang")}
