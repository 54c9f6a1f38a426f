"""Configuration: defaults in code, a documented `config.toml`, overrides for tests.

The file is read with tomllib. Every key must be known and of the right type, so a
typo in a city's config fails at start with a message naming the key, instead of
being silently ignored.

Each section is a frozen dataclass: its fields, their types and defaults are the schema
(`Literal[...]` lists a key's allowed values). `config.toml` documents each key;
tests/test_config.py checks that the two agree.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from core.errors import ConfigError

ENV_VAR = "MADOGUCHI_CONFIG"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "config.toml"


@dataclass(frozen=True)
class StorageConfig:
    engine: Literal["sqlite", "postgresql"] = "sqlite"
    path: str = "var/madoguchi.db"
    url: str = ""
    busy_timeout_ms: int = 10000
    request_busy_timeout_ms: int = 1500


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    surfaces: Literal["all", "prereg", "kiosk", "counter"] = "all"
    prereg_port: int = 8001
    kiosk_port: int = 8002
    counter_port: int = 8003
    threads: int = 8
    stream_threads: int = 4
    behind_tls: bool = False


@dataclass(frozen=True)
class DevicesConfig:
    card_reader: Literal["emulated", "pcsc"] = "emulated"
    card_reader_name: str = ""
    emulator_persona: str = "hardware/cards/personas/mynumber_yamada.toml"
    camera: str | int = "none"
    camera_dedupe_seconds: float = 5.0
    printer: str = "pdf-folder"
    cups_server: str = ""
    pdf_folder: str = "var/printed"
    print_timeout_seconds: float = 60.0
    speech: Literal["openjtalk", "simulated", "off"] = "openjtalk"
    speech_dictionary: str = "/var/lib/mecab/dic/open-jtalk/naist-jdic"
    speech_voice: str = ""
    speech_cache: str = "var/speech"
    speech_cache_mb: float = 200.0


@dataclass(frozen=True)
class KeysConfig:
    """Every secret lives here (and, when left empty, is generated into `dir`)."""
    dir: str = "var/keys"
    office_api_key: str = ""
    kiosk_device_token: str = ""
    pull_api_key: str = ""
    backend_auth_header: str = ""
    database_password: str = ""


@dataclass(frozen=True)
class BackendConfig:
    mode: Literal["push", "pull", "file"] = "file"
    url: str = ""
    verify_tls: bool = True
    ca_file: str = ""
    folder: str = "var/outbox"
    file_format: Literal["jsonl", "csv"] = "jsonl"
    timeout_seconds: float = 10.0
    senders: int = 4
    max_attempts: int = 0
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    forward_in_server: bool = True


@dataclass(frozen=True)
class RetentionConfig:
    prereg_days: int = 30
    purge_interval_minutes: int = 60
    personal_data_days: int = 0
    progress_days: int = 30


@dataclass(frozen=True)
class BackupConfig:
    folder: str = "var/backups"
    keep_daily: int = 7
    keep_weekly: int = 8


@dataclass(frozen=True)
class LanguagesConfig:
    available: list[str] = field(default_factory=lambda: ["ja", "en", "zh", "ko", "vi", "pt", "ja-easy"])
    default: str = "ja"


@dataclass(frozen=True)
class PreregConfig:
    server_url: str = ""
    public_url: str = ""
    submissions_per_minute: int = 20
    max_field_length: int = 200


@dataclass(frozen=True)
class KioskConfig:
    mode: Literal["self", "clerk-assisted"] = "self"
    office_server_url: str = ""
    kiosk_id: str = "kiosk-1"
    reception_prefix: str = "A"
    idle_seconds: int = 60
    idle_warning_seconds: int = 15
    office: str = ""
    speech_on_start: bool = False


@dataclass(frozen=True)
class CounterConfig:
    session_minutes: int = 480
    signin_free_attempts: int = 5
    signin_longest_wait_minutes: int = 15
    display_refresh_seconds: float = 2.0
    stay_baseline_minutes: float = 0.0
    returns_baseline_percent: float = 0.0


@dataclass(frozen=True)
class MonitoringConfig:
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True
    metrics_allowed_from: list[str] = field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    outbox_max_age_minutes: int = 15


@dataclass(frozen=True)
class SiteConfig:
    folder: str = "sites/demo"


@dataclass(frozen=True)
class Config:
    """The validated configuration; `base_dir` is where relative paths are resolved."""
    storage: StorageConfig = field(default_factory=StorageConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    backup: BackupConfig = field(default_factory=BackupConfig)
    languages: LanguagesConfig = field(default_factory=LanguagesConfig)
    prereg: PreregConfig = field(default_factory=PreregConfig)
    kiosk: KioskConfig = field(default_factory=KioskConfig)
    counter: CounterConfig = field(default_factory=CounterConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    source: str = ""
    base_dir: Path = field(default_factory=Path.cwd)

    def path(self, value: str | os.PathLike) -> Path:
        """Resolve a path setting against the working directory (base_dir)."""
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def replace(self, overrides: dict[str, dict[str, Any]]) -> Config:
        return _build(_merged(self.as_dict(), overrides, "override"), self.source, self.base_dir)


# Section name -> its dataclass, in the order of Config's fields.
SECTIONS: dict[str, type] = {
    f.name: f.default_factory for f in dataclasses.fields(Config)  # type: ignore[misc]
    if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory)
}


@dataclass(frozen=True)
class Setting:
    """What one key accepts, read off its section's field."""
    types: tuple[type, ...]
    choices: tuple[Any, ...] | None = None


def _setting(hint: Any) -> Setting:
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return Setting(tuple(dict.fromkeys(type(c) for c in choices)), choices)
    if isinstance(hint, types.UnionType):
        return Setting(tuple(t for arg in typing.get_args(hint) for t in _setting(arg).types))
    if typing.get_origin(hint) is list:
        return Setting((list,))
    # A number may be written without a decimal point.
    return Setting((float, int) if hint is float else (hint,))


@cache
def settings(section: str) -> dict[str, Setting]:
    """The keys of one section and what each accepts."""
    return {name: _setting(hint) for name, hint in typing.get_type_hints(SECTIONS[section]).items()}


def defaults() -> dict[str, dict[str, Any]]:
    return Config().as_dict()


# Keys renamed in a release: the old name keeps working for one more release, with a warning
# naming the new key. old "section.key" -> new "section.key".
RENAMED: dict[str, str] = {
    "counter.lockout_attempts": "counter.signin_free_attempts",
    "counter.lockout_minutes": "counter.signin_longest_wait_minutes",
    # Names that say whose address they hold.
    "prereg.office_url": "prereg.server_url",
    "kiosk.office_url": "kiosk.office_server_url",
    # The kiosk's idle timers live with the kiosk.
    "retention.kiosk_idle_seconds": "kiosk.idle_seconds",
    "retention.kiosk_idle_warning_seconds": "kiosk.idle_warning_seconds",
    # Secrets in one section.
    "backend.pull_api_key": "keys.pull_api_key",
    "backend.auth_header": "keys.backend_auth_header",
}
log = logging.getLogger("madoguchi.config")


def _renamed(data: dict[str, Any], source: str) -> dict[str, Any]:
    """`data` with renamed keys under their new names (a warning for each); the new name wins."""
    out = {section: dict(values) if isinstance(values, dict) else values for section, values in data.items()}
    for old, new in RENAMED.items():
        old_section, old_key = old.split(".")
        values = out.get(old_section)
        if not isinstance(values, dict) or old_key not in values:
            continue
        new_section, new_key = new.split(".")
        value = values.pop(old_key)
        log.warning("%s: %s is now called %s; the old name will stop working in the next release", source, old, new)
        target = out.setdefault(new_section, {})
        if isinstance(target, dict):
            target.setdefault(new_key, value)
    return out


def _type_name(accepted: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a table"}
    if accepted == (float, int):
        return "a number"
    return " or ".join(names.get(t, t.__name__) for t in accepted)


def _check(data: dict[str, Any], source: str) -> None:
    """Refuse unknown keys and wrong types. A message names the key and what it accepts, never
    the value given: it may be a secret ([keys]), and errors reach logs and terminals."""
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"{source}: unknown section [{section}]", key=section)
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table", key=section)
        known = settings(section)
        for key, value in values.items():
            name = f"{section}.{key}"
            setting = known.get(key)
            if setting is None:
                raise ConfigError(f"{source}: unknown key {name}", key=name)
            # bool is a subclass of int; never accept it where a number is meant.
            ok = isinstance(value, setting.types) and not (
                isinstance(value, bool) and bool not in setting.types
            )
            if not ok:
                raise ConfigError(f"{source}: {name} must be {_type_name(setting.types)}, "
                                  f"not {_type_name((type(value),))}", key=name)
            if setting.choices and value not in setting.choices:
                allowed = ", ".join(map(str, setting.choices))
                raise ConfigError(f"{source}: {name} must be one of {allowed}", key=name)


def _merged(values: dict[str, dict[str, Any]], data: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """`values` with `data` (checked, old names accepted) laid over it."""
    data = _renamed(data, source)
    _check(data, source)
    out = {section: dict(vals) for section, vals in values.items()}
    for section, vals in data.items():
        out[section].update(vals)
    return out


def _build(values: dict[str, dict[str, Any]], source: str, base_dir: Path) -> Config:
    for lang in values["languages"]["available"]:
        if lang not in LANGUAGE_CODES:
            raise ConfigError(f"{source}: languages.available must list only {', '.join(LANGUAGE_CODES)}",
                              key="languages.available")
    if values["languages"]["default"] not in values["languages"]["available"]:
        raise ConfigError(f"{source}: languages.default must be one of languages.available", key="languages.default")
    for network in values["monitoring"]["metrics_allowed_from"]:
        try:
            ipaddress.ip_network(str(network), strict=False)
        except ValueError:
            raise ConfigError(f"{source}: monitoring.metrics_allowed_from must list networks such as "
                              "\"10.0.0.0/8\"", key="monitoring.metrics_allowed_from") from None
    storage = values["storage"]
    if storage["engine"] == "postgresql" and (problem := database_url_problem(storage["url"])):
        raise ConfigError(f"{source}: storage.url {problem}", key="storage.url")
    sections = {name: cls(**values[name]) for name, cls in SECTIONS.items()}
    return Config(**sections, source=source, base_dir=base_dir)


def database_url_problem(url: str) -> str | None:
    """What is wrong with a PostgreSQL URL ([storage].url, `restore --into-database`), or None."""
    if not url.startswith(("postgresql://", "postgres://")):
        return 'must be a URL such as "postgresql://madoguchi@db/madoguchi" when storage.engine is "postgresql"'
    if urlsplit(url).password is not None or "password=" in url:
        # A config file or a command line is no place for a secret, and the URL may reach a log line.
        return "must hold no password: set keys.database_password or the keys folder's database.password"
    return None


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
    values = _merged(defaults(), data, str(path))
    if overrides:
        values = _merged(values, overrides, "override")
    return _build(values, str(path), Path(base_dir) if base_dir else Path.cwd())


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
