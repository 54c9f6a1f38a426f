"""Clerk accounts: argon2 hashes, lock-out, server-side sessions, the `madoguchi users` CLI."""
from datetime import timedelta

import pytest

from core import users
from core.application import utcnow
from core.users import AuthError, UserError
from tests.fixtures_counter import PASSWORD
from tests.helpers import madoguchi


def test_password_is_stored_as_an_argon2id_hash(db):
    users.add_user(db, "sato", PASSWORD, "clerk", "佐藤")
    row = db.execute("SELECT password_hash FROM users WHERE username = 'sato'").fetchone()
    assert row[0].startswith("$argon2id$") and PASSWORD not in row[0]
    assert users.authenticate(db, "sato", PASSWORD).display_name == "佐藤"


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
    assert users.authenticate(db, "SATO", PASSWORD).username == "sato"


def test_unknown_user_and_wrong_password_look_the_same(db):
    users.add_user(db, "sato", PASSWORD)
    with pytest.raises(AuthError) as unknown:
        users.authenticate(db, "nobody", PASSWORD)
    with pytest.raises(AuthError) as wrong:
        users.authenticate(db, "sato", "not the password")
    assert unknown.value.code == wrong.value.code == "bad_credentials"
    assert str(unknown.value) == str(wrong.value)


def test_repeated_failures_lock_the_account_then_it_opens_again(db):
    users.add_user(db, "sato", PASSWORD)
    now = utcnow()
    for _ in range(2):
        with pytest.raises(AuthError):
            users.authenticate(db, "sato", "wrong password", lockout_attempts=3, lockout_minutes=15, now=now)
    with pytest.raises(AuthError) as e:
        users.authenticate(db, "sato", "wrong password", lockout_attempts=3, lockout_minutes=15, now=now)
    assert e.value.code == "locked"
    # While locked, even the right password is refused (and guessing goes nowhere).
    with pytest.raises(AuthError) as e:
        users.authenticate(db, "sato", PASSWORD, lockout_attempts=3, now=now + timedelta(minutes=14))
    assert e.value.code == "locked"
    assert users.authenticate(db, "sato", PASSWORD, lockout_attempts=3, now=now + timedelta(minutes=16))
    assert users.get_user(db, "sato").failed_attempts == 0


def test_a_success_resets_the_count_of_failures(db):
    users.add_user(db, "sato", PASSWORD)
    for _ in range(2):
        with pytest.raises(AuthError):
            users.authenticate(db, "sato", "wrong password", lockout_attempts=3)
    users.authenticate(db, "sato", PASSWORD, lockout_attempts=3)
    for _ in range(2):
        with pytest.raises(AuthError) as e:
            users.authenticate(db, "sato", "wrong password", lockout_attempts=3)
        assert e.value.code == "bad_credentials"


def test_unlock_lifts_a_lock_out(db):
    users.add_user(db, "sato", PASSWORD)
    for _ in range(3):
        with pytest.raises(AuthError):
            users.authenticate(db, "sato", "wrong password", lockout_attempts=3)
    assert users.get_user(db, "sato").locked()
    users.unlock(db, "sato")
    assert users.authenticate(db, "sato", PASSWORD, lockout_attempts=3)


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
        users.authenticate(db, "sato", PASSWORD)
    assert e.value.code == "disabled"
    users.set_disabled(db, "sato", False)
    token = users.start_session(db, users.authenticate(db, "sato", PASSWORD), minutes=60)
    users.set_password(db, "sato", "another long password")
    assert users.session_for(db, token) is None
    assert users.authenticate(db, "sato", "another long password")


def test_roles_rank_clerk_supervisor_admin():
    assert users.Role.ADMIN.at_least("supervisor") and users.Role.SUPERVISOR.at_least("clerk")
    assert not users.Role.CLERK.at_least("supervisor")


def test_cli_add_passwd_disable_enable_list(config_file, db):
    r = madoguchi("users", "add", "sato", "--role", "supervisor", "--name", "佐藤 花子", "--password-stdin",
                  config_file=config_file, input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert "added sato (supervisor)" in r.stdout
    assert users.authenticate(db, "sato", PASSWORD).role == "supervisor"
    # Interactive: asked twice, never echoed.
    r = madoguchi("users", "passwd", "sato", config_file=config_file,
                  input="a brand new password\na brand new password\n")
    assert r.returncode == 0, r.stderr
    assert "a brand new password" not in r.stdout
    assert users.authenticate(db, "sato", "a brand new password")
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
