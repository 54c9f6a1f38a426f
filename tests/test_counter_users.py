"""Clerk accounts: argon2 hashes, server-side sessions, the `madoguchi users` CLI.
(Holding back wrong passwords: tests/test_counter_signin.py.)"""
from datetime import timedelta

import pytest

from core import users
from core.application import utcnow
from core.signin_throttle import Throttle
from core.store.db import open_from_config
from core.users import AuthError, UserError
from tests.fixtures_counter import PASSWORD
from tests.helpers import madoguchi


def check(db, username, password, **kw):
    """authenticate() without a throttle, as a script on the server would."""
    return users.authenticate(db, username, password, throttle=None, address="local", **kw)


def test_password_is_stored_as_an_argon2id_hash(db):
    users.add_user(db, "sato", PASSWORD, "clerk", "佐藤")
    row = db.execute("SELECT password_hash FROM users WHERE username = 'sato'").fetchone()
    assert row[0].startswith("$argon2id$") and PASSWORD not in row[0]
    assert check(db, "sato", PASSWORD).display_name == "佐藤"


@pytest.mark.parametrize("password, code", [("short1", "password_too_short"),
                                            ("sato-is-my-name", "password_contains_username"),
                                            ("aaaaaaaaaaaa", "password_too_simple")])
def test_weak_passwords_are_refused(db, password, code):
    with pytest.raises(UserError) as e:
        users.add_user(db, "sato", password)
    assert e.value.code == code
    assert db["users"].count == 0


def test_user_names_are_checked_and_unique(db):
    users.add_user(db, "Sato", PASSWORD)  # stored lower-case
    with pytest.raises(UserError) as e:
        users.add_user(db, "sato", PASSWORD)
    assert e.value.code == "username_taken"
    with pytest.raises(UserError) as e:
        users.add_user(db, "佐藤", PASSWORD)
    assert e.value.code == "bad_username"
    assert check(db, "SATO", PASSWORD).username == "sato"
    assert check(db, " ｓａｔｏ ", PASSWORD).username == "sato"  # typed with the IME on


def test_unknown_user_and_wrong_password_look_the_same(db):
    users.add_user(db, "sato", PASSWORD)
    with pytest.raises(AuthError) as unknown:
        check(db, "nobody", PASSWORD)
    with pytest.raises(AuthError) as wrong:
        check(db, "sato", "not the password")
    assert unknown.value.code == wrong.value.code == "bad_credentials"
    assert str(unknown.value) == str(wrong.value)


def test_sessions_expire_end_and_are_stored_only_as_hashes(db):
    user = users.add_user(db, "sato", PASSWORD)
    now = utcnow()
    token = users.start_session(db, user, minutes=60, now=now)
    assert token not in repr(list(db["clerk_sessions"].rows))
    assert users.session_for(db, token, now=now + timedelta(minutes=59)).user.username == "sato"
    assert users.session_for(db, token, now=now + timedelta(minutes=61)) is None
    users.end_session(db, token)
    assert users.session_for(db, token, now=now) is None
    assert users.session_for(db, "made-up-token") is None


def test_disabling_or_a_new_password_ends_every_session(db):
    user = users.add_user(db, "sato", PASSWORD)
    token = users.start_session(db, user, minutes=60)
    users.set_disabled(db, "sato", True)
    assert users.session_for(db, token) is None
    with pytest.raises(AuthError) as e:
        check(db, "sato", PASSWORD)
    assert e.value.code == "disabled"
    users.set_disabled(db, "sato", False)
    token = users.start_session(db, check(db, "sato", PASSWORD), minutes=60)
    users.set_password(db, "sato", "another long password")
    assert users.session_for(db, token) is None
    assert check(db, "sato", "another long password")


def test_roles_rank_clerk_supervisor_admin():
    assert users.Role.ADMIN.at_least("supervisor") and users.Role.SUPERVISOR.at_least("clerk")
    assert not users.Role.CLERK.at_least("supervisor")


def test_cli_add_passwd_disable_enable_list(config_file, db):
    r = madoguchi("users", "add", "sato", "--role", "supervisor", "--name", "佐藤 花子", "--password-stdin",
                  config_file=config_file, input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert "added sato (supervisor)" in r.stdout
    assert check(db, "sato", PASSWORD).role == "supervisor"
    # Interactive: asked twice, never echoed.
    r = madoguchi("users", "passwd", "sato", config_file=config_file,
                  input="a brand new password\na brand new password\n")
    assert r.returncode == 0, r.stderr
    assert "a brand new password" not in r.stdout
    assert check(db, "sato", "a brand new password")
    assert madoguchi("users", "disable", "sato", config_file=config_file).returncode == 0
    r = madoguchi("users", "list", config_file=config_file)
    assert r.stdout.split("\t")[:3] == ["sato", "supervisor", "disabled"]
    assert madoguchi("users", "enable", "sato", config_file=config_file).returncode == 0
    assert "active" in madoguchi("users", "list", config_file=config_file).stdout


def test_cli_errors_are_one_line(config_file):
    r = madoguchi("users", "add", "sato", "--password-stdin", config_file=config_file, input="short\n")
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: a password needs at least 10 characters"
    r = madoguchi("users", "disable", "nobody", config_file=config_file)
    assert r.returncode == 1 and r.stderr.strip() == "Error: no such user"


def test_cli_unlock_and_list_show_and_lift_the_waits_after_failed_sign_ins(config, config_file, db):
    users.add_user(db, "sato", PASSWORD)
    throttle = Throttle.for_config(db, config)
    # Six failures past the free ones: a wait of a minute, so a slow CLI start (CI runs two
    # suites at once) cannot outlast it; the first wait of one second once did.
    for _ in range(config.counter.signin_free_attempts + 6):
        throttle.failed("sato", "192.0.2.1")
    assert throttle.standing("sato", "192.0.2.1").wait > timedelta(seconds=30)
    assert madoguchi("users", "list", config_file=config_file).stdout.split("\t")[2] == "held-back"
    r = madoguchi("users", "unlock", "sato", config_file=config_file)
    assert r.returncode == 0 and "unlocked sato" in r.stdout
    # The CLI's process used the same key file: the wait is gone for the server too.
    fresh = Throttle.for_config(open_from_config(config), config)
    assert fresh.standing("sato", "192.0.2.1").wait == timedelta(0)
    assert madoguchi("users", "list", config_file=config_file).stdout.split("\t")[2] == "active"
    r = madoguchi("users", "unlock", "nobody", config_file=config_file)
    assert r.returncode == 1 and r.stderr.strip() == "Error: no such user"
