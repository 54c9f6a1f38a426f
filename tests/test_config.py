import re

import pytest

from core.config import SCHEMA, load_config
from core.errors import ConfigError
from tests.helpers import ROOT, madoguchi


def test_shipped_config_loads_and_matches_the_defaults():
    cfg = load_config(ROOT / "config.toml")
    for section, keys in SCHEMA.items():
        for key, setting in keys.items():
            assert getattr(getattr(cfg, section), key) == setting.default, f"{section}.{key}"


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
    assert seen == {f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys}


@pytest.mark.parametrize("text, key", [
    ('[storage]\npaht = "x"\n', "storage.paht"),
    ('[nosuch]\na = 1\n', "nosuch"),
    ('[server]\nport = "8000"\n', "server.port"),
    ('[server]\nbehind_tls = 1\n', "server.behind_tls"),
    ('[server]\nport = true\n', "server.port"),
    ('[devices]\ncard_reader = "usb"\n', "devices.card_reader"),
    ('[languages]\navailable = ["ja", "fr"]\n', "languages.available"),
])
def test_bad_keys_and_types_are_refused_naming_the_key(tmp_path, text, key):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.key == key
    assert key in str(e.value)


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


def test_a_renamed_key_keeps_working_for_a_release_with_a_warning_naming_the_new_key(tmp_path, caplog):
    f = tmp_path / "c.toml"
    f.write_text("[counter]\nlockout_attempts = 7\nlockout_minutes = 30\n")
    with caplog.at_level("WARNING", logger="madoguchi.config"):
        cfg = load_config(f)
    assert cfg.counter.signin_free_attempts == 7 and cfg.counter.signin_longest_wait_minutes == 30
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "counter.lockout_attempts is now called counter.signin_free_attempts" in warned
    assert "counter.signin_longest_wait_minutes" in warned
    # the new name wins when a file has both
    f.write_text("[counter]\nlockout_attempts = 7\nsignin_free_attempts = 3\n")
    assert load_config(f).counter.signin_free_attempts == 3
