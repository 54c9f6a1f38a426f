"""Sign-in against hostile clients: growing waits per account and address instead of a lock-out
a stranger can cause, the same answers for real and unknown names, no Argon2 for a refused
attempt, one verification at a time, and `next=` that only ever leads to a counter page."""
import statistics
import threading
import time
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from core import users
from core.application import utcnow
from core.signin_throttle import ACCOUNT_LONGEST_WAIT, Throttle
from core.store.db import open_from_config
from core.users import AuthError
from tests.fixtures_counter import PASSWORD, post, sign_in, text_of
from tests.helpers import everything_stored

STRANGER, CLERK_PC, ELSEWHERE = "192.0.2.66", "192.0.2.10", "198.51.100.7"


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


@pytest.fixture
def clock(monkeypatch):
    """Frozen time for core.users (sign-ins, sessions), moved on only by the test."""
    c = Clock()
    monkeypatch.setattr(users, "utcnow", c)
    return c


@pytest.fixture
def throttle(db):
    return Throttle(db, "test-key", free_attempts=5, longest_wait=timedelta(minutes=15))


class CountingHasher(PasswordHasher):
    def __init__(self):
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, *args, **kw):
        self.verified += 1
        return super().verify(*args, **kw)


@pytest.fixture
def hasher(monkeypatch):
    h = CountingHasher()
    monkeypatch.setattr(users, "_hasher", h)
    return h


def attempt(db, throttle, name, password, address, now):
    """The code of the refusal, or "ok"."""
    try:
        users.authenticate(db, name, password, throttle=throttle, address=address, now=now)
        return "ok"
    except AuthError as e:
        return e.code


# --- the throttle itself ------------------------------------------------------------------------

def test_waits_start_after_the_free_attempts_and_double_up_to_the_cap(db, throttle, hasher):
    users.add_user(db, "sato", PASSWORD)
    now = utcnow()
    for _ in range(4):
        assert attempt(db, throttle, "sato", "wrong", STRANGER, now) == "bad_credentials"
        assert throttle.standing("sato", STRANGER, now).wait == timedelta(0)
    waits = []
    for _ in range(14):
        assert attempt(db, throttle, "sato", "wrong", STRANGER, now) == "bad_credentials"
        wait = throttle.standing("sato", STRANGER, now).wait
        waits.append(wait.total_seconds())
        # Just before the wait is over the attempt is refused; then it is checked again.
        assert attempt(db, throttle, "sato", PASSWORD, STRANGER, now + wait - timedelta(milliseconds=1)) == "throttled"
        now += wait
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]


def test_a_held_back_attempt_is_refused_without_hashing(db, throttle, hasher):
    users.add_user(db, "sato", PASSWORD)
    now = utcnow()
    for name in ("sato", "nobody"):
        for _ in range(5):
            attempt(db, throttle, name, "wrong", STRANGER if name == "sato" else ELSEWHERE, now)
    checked = hasher.verified
    assert checked == 10
    for _ in range(20):
        with pytest.raises(AuthError) as e:
            users.authenticate(db, "sato", PASSWORD, throttle=throttle, address=STRANGER, now=now)
        assert e.value.code == "throttled" and e.value.details["retry_after"] == 1
        with pytest.raises(AuthError) as e:
            users.authenticate(db, "nobody", PASSWORD, throttle=throttle, address=ELSEWHERE, now=now)
        assert e.value.code == "throttled" and e.value.details["retry_after"] == 1
    assert hasher.verified == checked
    # Refusals count nothing: once the wait is over, the next wrong password waits 2 s, not more.
    attempt(db, throttle, "sato", "wrong", STRANGER, now + timedelta(seconds=1))
    assert throttle.standing("sato", STRANGER, now + timedelta(seconds=1)).wait == timedelta(seconds=2)


def test_a_strangers_guesses_do_not_keep_the_clerk_out_on_another_pc(db, throttle, hasher):
    users.add_user(db, "sato", PASSWORD)
    now = utcnow()
    for _ in range(12):  # as many as the stranger gets in; each later one is refused
        attempt(db, throttle, "sato", "guess", STRANGER, now)
        now += timedelta(seconds=3)
    assert attempt(db, throttle, "sato", PASSWORD, STRANGER, now) == "throttled"
    assert attempt(db, throttle, "sato", PASSWORD, CLERK_PC, now) == "ok"


def test_one_address_trying_many_names_is_held_back_and_only_it(db, throttle, hasher):
    now = utcnow()
    for i in range(20):
        assert attempt(db, throttle, f"name{i}", "password1", STRANGER, now) == "bad_credentials"
    assert attempt(db, throttle, "name-21", "password1", STRANGER, now) == "throttled"
    assert attempt(db, throttle, "name-21", "password1", ELSEWHERE, now) == "bad_credentials"


def test_a_guesser_on_many_addresses_slows_new_addresses_a_little_but_not_the_clerks_pc(db, throttle, hasher):
    users.add_user(db, "sato", PASSWORD)
    now = utcnow()
    assert attempt(db, throttle, "sato", PASSWORD, CLERK_PC, now) == "ok"
    for i in range(40):
        attempt(db, throttle, "sato", "guess", f"203.0.113.{i}", now)
    standing = throttle.standing("sato", ELSEWHERE, now)
    assert timedelta(0) < standing.wait <= ACCOUNT_LONGEST_WAIT
    assert attempt(db, throttle, "sato", PASSWORD, ELSEWHERE, now) == "throttled"
    assert attempt(db, throttle, "sato", PASSWORD, CLERK_PC, now) == "ok"
    # The clerk's success does not reset the brake for everyone else…
    assert attempt(db, throttle, "sato", PASSWORD, ELSEWHERE, now) == "throttled"
    # …but an admin's unlock does, and a quiet day does too.
    throttle.clear("sato")
    assert throttle.standing("sato", ELSEWHERE, now).wait == timedelta(0)
    assert throttle.standing("sato", CLERK_PC, now).known_address  # unlock keeps the known addresses


def test_a_quiet_day_forgets_the_failures(db, throttle, hasher):
    now = utcnow()
    for _ in range(5):
        attempt(db, throttle, "nobody", "guess", STRANGER, now)
    assert attempt(db, throttle, "nobody", "guess", STRANGER, now) == "throttled"
    later = now + timedelta(days=1, seconds=1)
    for _ in range(4):  # four free attempts again, not a longer wait
        assert attempt(db, throttle, "nobody", "guess", STRANGER, later) == "bad_credentials"
    assert throttle.standing("nobody", STRANGER, later).wait == timedelta(0)


def test_counts_are_shared_by_every_connection_and_show_no_typed_text(config, db, throttle, hasher):
    """Several server processes (each its own connection) see the same waits; a password typed
    into the name field is not in the database."""
    typed = "my secret password"
    for _ in range(5):
        attempt(db, throttle, typed, "x", STRANGER, utcnow())
    other = Throttle(open_from_config(config), "test-key")
    assert other.standing(typed, STRANGER).wait > timedelta(0)
    dump = everything_stored(db)
    assert typed not in dump and STRANGER not in dump


def test_only_one_password_is_checked_at_a_time_and_the_rest_are_told_busy(db, throttle, hasher):
    users.add_user(db, "sato", PASSWORD)
    assert users._verifying.acquire(timeout=5)  # as if another sign-in were being checked
    try:
        started = time.monotonic()
        assert attempt(db, throttle, "sato", PASSWORD, STRANGER, utcnow()) == "busy"
        assert time.monotonic() - started < 2
    finally:
        users._verifying.release()
    assert hasher.verified == 0
    assert attempt(db, throttle, "sato", PASSWORD, STRANGER, utcnow()) == "ok"


def test_an_unknown_name_takes_as_long_as_a_wrong_password(db, throttle):
    """The real Argon2id costs: an unknown name is checked against a dummy hash. Medians of
    interleaved tries, each from an address of its own so no wait cuts one short; 2× apart at
    most (they are within a few percent on an idle machine)."""
    users.add_user(db, "sato", PASSWORD)
    times = {"sato": [], "nobody": []}
    for i in range(7):
        for name in times:
            started = time.perf_counter()
            assert attempt(db, throttle, name, "not the password", f"203.0.113.{i}", utcnow()) == "bad_credentials"
            times[name].append(time.perf_counter() - started)
    real, unknown = statistics.median(times["sato"]), statistics.median(times["nobody"])
    assert 0.5 < unknown / real < 2, (real, unknown)


# --- on the sign-in page ------------------------------------------------------------------------

def sign_in_from(client, address, username, password, **data):
    return post(client, "/counter/sign-in?lang=en", {"username": username, "password": password, **data},
                environ_base={"REMOTE_ADDR": address})


def test_on_the_page_a_stranger_is_held_back_and_the_clerk_elsewhere_signs_in(app, clerks, clock):
    stranger = app.test_client()
    for _ in range(5):
        r = sign_in_from(stranger, STRANGER, "sato", "guess")
        assert r.status_code == 401 and "The user name or password is not right." in text_of(r)
    r = sign_in_from(stranger, STRANGER, "sato", PASSWORD)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert "Too many failed sign-ins. Try again in 1 s." in text_of(r)
    clock.advance(seconds=1)
    sign_in_from(stranger, STRANGER, "sato", "guess")
    r = sign_in_from(stranger, STRANGER, "sato", "guess")
    assert "Try again in 2 s." in text_of(r)
    clerk = app.test_client()
    r = sign_in_from(clerk, CLERK_PC, "sato", PASSWORD)
    assert r.status_code == 302 and clerk.get("/counter/").status_code == 200


def test_long_waits_are_said_in_minutes_and_in_the_clerks_language(app, clerks, clock):
    client = app.test_client()
    for _ in range(13):  # 5 free, then 1 s … 256 s
        sign_in_from(client, STRANGER, "sato", "guess")
        clock.advance(seconds=300)
    r = sign_in_from(client, STRANGER, "sato", "guess")
    clock.advance(seconds=1)
    r = sign_in_from(client, STRANGER, "sato", PASSWORD)
    assert r.status_code == 429 and "Try again in 9 min." in text_of(r)  # 511 s
    r = post(client, "/counter/sign-in?lang=ja", {"username": "sato", "password": PASSWORD},
             environ_base={"REMOTE_ADDR": STRANGER})
    assert r.status_code == 429 and "9分後にもう一度お試しください" in text_of(r)


def refusals(app, name, address):
    """The status, Retry-After and words of seven tries in a row, the name itself blanked out."""
    client = app.test_client()
    out = []
    for i in range(7):
        r = sign_in_from(client, address, name, PASSWORD if i == 6 else "guess")
        out.append((r.status_code, r.headers.get("Retry-After"), text_of(r).replace(name, "NAME")))
    return out


def test_real_unknown_and_disabled_names_get_the_same_answers(app, clerks, db, clock):
    users.set_disabled(db, "suzuki", True)
    real = refusals(app, "sato", "192.0.2.1")
    assert [status for status, _, _ in real] == [401] * 5 + [429] * 2  # the right password too, while held back
    assert refusals(app, "nobody", "192.0.2.2") == real
    assert refusals(app, "suzuki", "192.0.2.3") == real


def test_a_disabled_account_says_so_only_to_whoever_knows_its_password(app, clerks, db):
    users.set_disabled(db, "suzuki", True)
    client = app.test_client()
    r = sign_in_from(client, CLERK_PC, "suzuki", "guess")
    assert r.status_code == 401 and "disabled" not in text_of(r)
    r = sign_in_from(client, CLERK_PC, "suzuki", PASSWORD)
    assert r.status_code == 401 and "This account is disabled. Ask an administrator." in text_of(r)


def test_a_busy_verifier_answers_503_without_a_password_check(app, clerks):
    assert users._verifying.acquire(timeout=5)
    try:
        r = sign_in_from(app.test_client(), CLERK_PC, "sato", PASSWORD)
    finally:
        users._verifying.release()
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert "Many sign-ins are being checked at this moment." in text_of(r)


def test_a_clerk_at_a_known_pc_waits_longer_for_a_turn_than_a_stranger(db, throttle, hasher):
    users.add_user(db, "sato", PASSWORD)
    assert attempt(db, throttle, "sato", PASSWORD, CLERK_PC, utcnow()) == "ok"
    assert users._verifying.acquire(timeout=5)
    threading.Timer(1.2, users._verifying.release).start()  # the other check ends after 1.2 s
    assert attempt(db, throttle, "sato", PASSWORD, STRANGER, utcnow()) == "busy"
    assert attempt(db, throttle, "sato", PASSWORD, CLERK_PC, utcnow()) == "ok"


def test_when_two_strangers_wait_for_a_turn_the_next_is_told_busy_at_once(db, throttle, hasher, monkeypatch):
    users.add_user(db, "sato", PASSWORD)
    assert attempt(db, throttle, "sato", PASSWORD, CLERK_PC, utcnow()) == "ok"
    monkeypatch.setattr(users, "_waiting", users.MAX_WAITING)  # two attempts already waiting (each holds a thread)
    assert users._verifying.acquire(timeout=5)
    threading.Timer(1.2, users._verifying.release).start()
    started = time.monotonic()
    assert attempt(db, throttle, "sato", PASSWORD, STRANGER, utcnow()) == "busy"
    assert time.monotonic() - started < users.TURN_WAIT_SECONDS  # did not wait
    assert attempt(db, throttle, "sato", PASSWORD, CLERK_PC, utcnow()) == "ok"  # the clerk's PC still may


def test_passwords_are_checked_on_a_thread_of_lower_priority():
    import os
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert users._on_verifier(os.getpriority, os.PRIO_PROCESS, 0) == min(19, mine + users.VERIFIER_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine  # the server's own threads keep theirs


def test_the_change_password_page_is_held_back_too(app, clerks, clock):
    client = sign_in(app.test_client())
    for _ in range(5):
        post(client, "/counter/password?lang=en", {"current_password": "guess", "new_password": "x",
                                                   "new_password_again": "x"})
    r = post(client, "/counter/password?lang=en", {"current_password": PASSWORD, "new_password": "ocean lantern 42",
                                                   "new_password_again": "ocean lantern 42"})
    assert r.status_code == 400 and "Too many failed sign-ins. Try again in 1 s." in text_of(r)


# --- where sign-in leads ------------------------------------------------------------------------

HOSTILE_NEXT = ["/counter/\r\nSet-Cookie: x=1", "/counter/\nLocation: //evil.example", "/counter/%0d%0aX: y",
                "//evil.example/", "https://evil.example/counter/", "/\\evil.example", "/counter/\\..\\..\\x",
                "/counter/../prereg/", "/counter/%2e%2e/prereg/", "javascript:alert(1)", "/counter/\x00",
                "/counter/é", "counter/", " /counter/"]


@pytest.mark.parametrize("nxt", HOSTILE_NEXT)
def test_next_that_is_not_a_counter_page_leads_to_the_queue(app, clerks, nxt):
    client = app.test_client()
    page = client.get("/counter/sign-in", query_string={"next": nxt})
    assert page.status_code == 200 and 'name="next" value=""' in page.get_data(as_text=True)
    r = post(client, "/counter/sign-in", {"username": "sato", "password": PASSWORD, "next": nxt})
    assert r.status_code == 302 and r.headers["Location"] == "/counter/"
    r = client.get("/counter/sign-in", query_string={"next": nxt})  # signed in already
    assert r.status_code == 302 and r.headers["Location"] == "/counter/"


def test_next_keeps_a_counter_page_with_its_query(app, clerks):
    client = app.test_client()
    r = client.get("/counter/exchange-log?state=confirmed&number=3")
    assert r.status_code == 302
    page = client.get(r.headers["Location"])
    assert 'value="/counter/exchange-log?state=confirmed&amp;number=3"' in page.get_data(as_text=True)
    r = post(client, "/counter/sign-in", {"username": "sato", "password": PASSWORD,
                                          "next": "/counter/exchange-log?state=confirmed&number=3"})
    assert r.headers["Location"] == "/counter/exchange-log?state=confirmed&number=3"
    # A path with CR/LF in it, sent to sign-in by the guard, comes back as the queue.
    post(client, "/counter/sign-out")
    r = client.get("/counter/applications/X%0d%0aSet-Cookie:%20x=1")
    assert r.status_code == 302 and "\n" not in r.headers["Location"]
    page = client.get(r.headers["Location"])
    assert page.status_code == 200 and 'name="next" value=""' in page.get_data(as_text=True)
