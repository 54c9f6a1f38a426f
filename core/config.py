"""Configuration: defaults in code, a documented `config.toml`, overrides for tests.

The file is read with tomllib. Every key must be known and of the right type, so a
typo in a city's config fails at start with a message naming the key, instead of
being silently ignored.
"""
from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError

ENV_VAR = "MADOGUCHI_CONFIG"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "config.toml"


@dataclass(frozen=True)
class Setting:
    default: Any
    types: tuple[type, ...]
    choices: tuple[Any, ...] | None = None


def _s(default, *types, choices=None):
    return Setting(default, types or (type(default),), tuple(choices) if choices else None)


# The schema. `config.toml` documents each key; tests/test_config.py checks that the two agree.
SCHEMA: dict[str, dict[str, Setting]] = {
    "storage": {
        "path": _s("var/madoguchi.db"),
        "busy_timeout_ms": _s(10000),
        "request_busy_timeout_ms": _s(1500),
    },
    "server": {
        "host": _s("127.0.0.1"),
        "port": _s(8000),
        "surfaces": _s("all", choices=["all", "prereg", "kiosk", "counter"]),
        "prereg_port": _s(8001),
        "kiosk_port": _s(8002),
        "counter_port": _s(8003),
        "threads": _s(8),
        "stream_threads": _s(4),
        "behind_tls": _s(False),
    },
    "devices": {
        "card_reader": _s("emulated", choices=["emulated", "pcsc"]),
        "card_reader_name": _s(""),
        "emulator_persona": _s("hardware/cards/personas/mynumber_yamada.toml"),
        "camera": _s("none", str, int),
        "camera_dedupe_seconds": _s(5.0, float, int),
        "printer": _s("pdf-folder"),
        "cups_server": _s(""),
        "pdf_folder": _s("var/printed"),
        "print_timeout_seconds": _s(60.0, float, int),
    },
    "keys": {
        "dir": _s("var/keys"),
        "office_api_key": _s(""),
        "kiosk_device_token": _s(""),
    },
    "backend": {
        "mode": _s("file", choices=["push", "pull", "file"]),
        "url": _s(""),
        "auth_header": _s(""),
        "verify_tls": _s(True),
        "ca_file": _s(""),
        "folder": _s("var/outbox"),
        "file_format": _s("jsonl", choices=["jsonl", "csv"]),
        "timeout_seconds": _s(10.0, float, int),
        "senders": _s(4),
        "max_attempts": _s(0),
        "backoff_initial_seconds": _s(1.0, float, int),
        "backoff_max_seconds": _s(300.0, float, int),
        "pull_api_key": _s(""),
    },
    "retention": {
        "prereg_days": _s(30),
        "purge_interval_minutes": _s(60),
        "kiosk_idle_seconds": _s(60),
        "kiosk_idle_warning_seconds": _s(15),
    },
    "languages": {
        "available": _s(["ja", "en", "zh", "ko", "vi", "pt", "ja-easy"], list),
        "default": _s("ja"),
    },
    "prereg": {
        "office_url": _s(""),
        "submissions_per_minute": _s(20),
        "max_field_length": _s(200),
    },
    "kiosk": {
        "mode": _s("self", choices=["self", "clerk-assisted"]),
        "office_url": _s(""),
        "kiosk_id": _s("kiosk-1"),
        "reception_prefix": _s("A"),
    },
    "counter": {
        "session_minutes": _s(480),
        "signin_free_attempts": _s(5),
        "signin_longest_wait_minutes": _s(15),
    },
}


class Section:
    """Read-only attribute access to one config section."""

    def __init__(self, name: str, values: dict[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"{self._name}.{key}") from None

    def __setattr__(self, key, value):
        raise AttributeError("configuration is read-only")

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


class Config:
    """The validated configuration; `base_dir` is where relative paths are resolved."""

    def __init__(self, values: dict[str, dict[str, Any]], source: str, base_dir: Path):
        self.source = source
        self.base_dir = base_dir
        self._sections = {name: Section(name, vals) for name, vals in values.items()}

    def __getattr__(self, name: str) -> Section:
        try:
            return self.__dict__["_sections"][name]
        except KeyError:
            raise AttributeError(name) from None

    def path(self, value: str | os.PathLike) -> Path:
        """Resolve a path setting against the working directory (base_dir)."""
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: s.as_dict() for name, s in self._sections.items()}

    def replace(self, overrides: dict[str, dict[str, Any]]) -> Config:
        merged = self.as_dict()
        _check(overrides, "override")
        for section, vals in overrides.items():
            merged[section].update(vals)
        return Config(merged, self.source, self.base_dir)


# Keys renamed in a release: the old name keeps working for one more release, with a warning
# naming the new key. old "section.key" -> new "section.key".
RENAMED: dict[str, str] = {
    "counter.lockout_attempts": "counter.signin_free_attempts",
    "counter.lockout_minutes": "counter.signin_longest_wait_minutes",
}
log = logging.getLogger("madoguchi.config")


def _renamed(data: dict[str, Any], source: str) -> dict[str, Any]:
    """`data` with renamed keys under their new names (a warning for each)."""
    out = {section: dict(values) if isinstance(values, dict) else values for section, values in data.items()}
    for old, new in RENAMED.items():
        old_section, old_key = old.split(".")
        values = out.get(old_section)
        if not isinstance(values, dict) or old_key not in values:
            continue
        new_section, new_key = new.split(".")
        value = values.pop(old_key)
        log.warning("%s: %s is now called %s; the old name will stop working in the next release", source, old, new)
        out.setdefault(new_section, {}).setdefault(new_key, value)
    return out


def _type_name(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check(data: dict[str, Any], source: str) -> None:
    for section, values in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section}]", key=section)
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table", key=section)
        for key, value in values.items():
            name = f"{section}.{key}"
            setting = SCHEMA[section].get(key)
            if setting is None:
                raise ConfigError(f"{source}: unknown key {name}", key=name)
            # bool is a subclass of int; never accept it where a number is meant.
            ok = isinstance(value, setting.types) and not (
                isinstance(value, bool) and bool not in setting.types
            )
            if not ok:
                raise ConfigError(
                    f"{source}: {name} must be {_type_name(setting.types)}, got {value!r}", key=name
                )
            if setting.choices and value not in setting.choices:
                allowed = ", ".join(map(str, setting.choices))
                raise ConfigError(f"{source}: {name} must be one of {allowed}, got {value!r}", key=name)


def defaults() -> dict[str, dict[str, Any]]:
    return {sec: {k: s.default for k, s in keys.items()} for sec, keys in SCHEMA.items()}


def load_config(
    path: str | os.PathLike | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    base_dir: str | os.PathLike | None = None,
) -> Config:
    """Load config: defaults ← file (argument, $MADOGUCHI_CONFIG, or ./config.toml) ← overrides."""
    if path is None:
        path = os.environ.get(ENV_VAR) or (Path.cwd() / "config.toml")
        if not Path(path).exists() and not os.environ.get(ENV_VAR):
            path = DEFAULT_FILE
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    data = _renamed(data, str(path))
    _check(data, str(path))
    values = defaults()
    for section, vals in data.items():
        values[section].update(vals)
    if overrides:
        _check(overrides, "override")
        for section, vals in overrides.items():
            values[section].update(vals)
    for lang in values["languages"]["available"]:
        if lang not in LANGUAGE_CODES:
            raise ConfigError(f"{path}: languages.available: unknown language {lang!r}", key="languages.available")
    if values["languages"]["default"] not in values["languages"]["available"]:
        raise ConfigError(f"{path}: languages.default must be one of languages.available", key="languages.default")
    return Config(values, str(path), Path(base_dir) if base_dir else Path.cwd())


# Language codes used in the catalogue, URLs and cookies, with each one's own name.
# やさしい日本語 has no CLDR locale, so gettext finds it as `ja_JP` (falling back to `ja`).
LANGUAGES: dict[str, dict[str, str]] = {
    "ja": {"native": "日本語", "babel": "ja"},
    "en": {"native": "English", "babel": "en"},
    "zh": {"native": "中文(简体)", "babel": "zh_Hans_CN"},
    "ko": {"native": "한국어", "babel": "ko"},
    "vi": {"native": "Tiếng Việt", "babel": "vi"},
    "pt": {"native": "Português", "babel": "pt_BR"},
    "ja-easy": {"native": "やさしい にほんご", "babel": "ja_JP"},
}
LANGUAGE_CODES = tuple(LANGUAGES)
