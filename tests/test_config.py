import re

import pytest

from core.config import RENAMED, SECTIONS, defaults, load_config, settings
from core.errors import ConfigError
from tests.helpers import ROOT, madoguchi, write_config


def test_shipped_config_loads_and_matches_the_defaults():
    assert load_config(ROOT / "config.toml").as_dict() == defaults()


def test_every_key_is_in_the_file_with_a_comment_above_it():
    lines = (ROOT / "config.toml").read_text(encoding="utf-8").splitlines()
    section, seen = None, set()
    for i, line in enumerate(lines):
        if m := re.match(r"^\[(\w+)\]$", line):
            section = m.group(1)
        elif m := re.match(r"^(\w+) = ", line):
            seen.add(f"{section}.{m.group(1)}")
            j = i - 1  # a run of keys may share the comment above the run
            while j >= 0 and re.match(r"^\w+ = ", lines[j]):
                j -= 1
            assert lines[j].startswith("#"), f"{section}.{m.group(1)} has no comment"
    assert seen == {f"{s}.{k}" for s in SECTIONS for k in settings(s)}


@pytest.mark.parametrize("text, key", [
    ('[storage]\npaht = "x"\n', "storage.paht"),
    ('[nosuch]\na = 1\n', "nosuch"),
    ('[server]\nport = "8000"\n', "server.port"),
    ('[server]\nbehind_tls = 1\n', "server.behind_tls"),
    ('[server]\nport = true\n', "server.port"),
    ('[devices]\ncard_reader = "usb"\n', "devices.card_reader"),
    ('[languages]\navailable = ["ja", "fr"]\n', "languages.available"),
    ('[languages]\navailable = "ja"\n', "languages.available"),
    ('[devices]\ncamera = 1.5\n', "devices.camera"),
    ('[kiosk]\nmode = "robot"\n', "kiosk.mode"),
    ('[storage]\nbusy_timeout_ms = 1.5\n', "storage.busy_timeout_ms"),
    ('[retention]\nkiosk_idle_seconds = "60"\n', "kiosk.idle_seconds"),
])
def test_bad_keys_and_types_are_refused_naming_the_key(tmp_path, text, key):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.key == key
    assert key in str(e.value)


SECRET = "s3cr3t-Value-that-must-not-show"


@pytest.mark.parametrize("text, key, expected", [
    (f'[keys]\noffice_api_key = ["{SECRET}"]\n', "keys.office_api_key", "must be a string, not a list"),
    (f'[keys]\npull_api_key = {{ v = "{SECRET}" }}\n', "keys.pull_api_key", "must be a string, not a table"),
    (f'[backend]\nauth_header = ["{SECRET}"]\n', "keys.backend_auth_header", "must be a string"),   # its old name
    (f'[kiosk]\nmode = "{SECRET}"\n', "kiosk.mode", "must be one of self, clerk-assisted"),
    (f'[server]\nport = "{SECRET}"\n', "server.port", "must be an integer, not a string"),
    (f'[languages]\navailable = ["ja", "{SECRET}"]\n', "languages.available", "must list only ja, en,"),
    (f'[storage]\nengine = "postgresql"\nurl = "postgresql://madoguchi:{SECRET}@db/madoguchi"\n', "storage.url",
     "must hold no password: set keys.database_password"),
    (f'[storage]\nengine = "postgresql"\nurl = "host=db password={SECRET}"\n', "storage.url", "must be a URL"),
])
def test_a_config_error_names_the_key_and_what_it_takes_never_the_value(tmp_path, text, key, expected):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.key == key and key in str(e.value) and expected in str(e.value)
    assert SECRET not in str(e.value) and SECRET not in repr(e.value.details)
    # nor on the terminal of `madoguchi check-config`-like commands, which print the error
    run = madoguchi("init", config_file=path)
    assert run.returncode != 0 and key in run.stderr + run.stdout and SECRET not in run.stderr + run.stdout


def test_int_is_accepted_where_a_number_is_meant(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[devices]\ncamera_dedupe_seconds = 3\ncamera = 0\n")
    cfg = load_config(path)
    assert cfg.devices.camera_dedupe_seconds == 3 and cfg.devices.camera == 0


def test_env_var_points_at_another_file(tmp_path, monkeypatch):
    path = tmp_path / "other.toml"
    path.write_text("[server]\nport = 9123\n")
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(path))
    assert load_config().server.port == 9123


def test_overrides_win_and_are_checked(tmp_path):
    cfg = load_config(ROOT / "config.toml", overrides={"server": {"port": 1234}})
    assert cfg.server.port == 1234
    with pytest.raises(ConfigError):
        load_config(ROOT / "config.toml", overrides={"server": {"nope": 1}})


def test_config_is_read_only():
    cfg = load_config(ROOT / "config.toml")
    with pytest.raises(AttributeError):
        cfg.server.port = 1


def test_cli_reports_a_bad_key_in_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[storage]\npath = "var/x.db"\nbusy_timout_ms = 5\n')
    result = madoguchi("init", config_file=path, cwd=tmp_path)
    assert result.returncode != 0
    err = result.stderr.strip().splitlines()
    assert len(err) == 1, result.stderr
    assert "storage.busy_timout_ms" in err[0] and "Traceback" not in result.stderr


# Every renamed key with a value of its type: each old name must still set its new key.
OLD_NAME_VALUES = {
    "counter.lockout_attempts": 7,
    "counter.lockout_minutes": 30,
    "prereg.office_url": "http://prereg.example",
    "kiosk.office_url": "http://office.example",
    "retention.kiosk_idle_seconds": 90,
    "retention.kiosk_idle_warning_seconds": 20,
    "backend.pull_api_key": "pull-secret",
    "backend.auth_header": "Bearer push-secret",
}


def _nested(values: dict[str, object]) -> dict[str, dict[str, object]]:
    """{"section.key": value} as {section: {key: value}}, in the order given."""
    out: dict[str, dict[str, object]] = {}
    for name, value in values.items():
        section, key = name.split(".")
        out.setdefault(section, {})[key] = value
    return out


def _value(cfg, name: str):
    section, key = name.split(".")
    return cfg.as_dict()[section][key]


def test_every_renamed_key_is_tested_and_its_new_name_exists():
    assert set(OLD_NAME_VALUES) == set(RENAMED)
    for old, new in RENAMED.items():
        section, key = new.split(".")
        assert key in settings(section), new
        old_section, old_key = old.split(".")
        assert old_key not in settings(old_section), f"{old} is still a key of its own"


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_each_old_name_sets_its_new_key_with_a_warning_and_the_new_name_wins(tmp_path, caplog, old):
    new, value = RENAMED[old], OLD_NAME_VALUES[old]
    f = tmp_path / "c.toml"
    write_config(f, _nested({old: value}))
    with caplog.at_level("WARNING", logger="madoguchi.config"):
        cfg = load_config(f)
    assert _value(cfg, new) == value
    assert f"{old} is now called {new}" in " ".join(r.getMessage() for r in caplog.records)
    # the new name wins when a file has both, in either order
    newer = "a newer value" if isinstance(value, str) else value + 1
    for both in ({old: value, new: newer}, {new: newer, old: value}):
        write_config(f, _nested(both))
        assert _value(load_config(f), new) == newer
    # overrides (tests, `replace`) accept the old name too
    assert _value(load_config(ROOT / "config.toml", overrides=_nested({old: value})), new) == value
    assert _value(load_config(ROOT / "config.toml").replace(_nested({old: value})), new) == value


def test_sections_are_typed_dataclasses():
    cfg = load_config(ROOT / "config.toml")
    assert type(cfg.devices).__name__ == "DevicesConfig" and isinstance(cfg.devices.printer, str)
    with pytest.raises(AttributeError):
        cfg.devices.no_such_key  # noqa: B018
    assert cfg.replace({"server": {"port": 1}}).server.port == 1 and cfg.server.port == 8000
    assert cfg.path("x") == cfg.base_dir / "x"
