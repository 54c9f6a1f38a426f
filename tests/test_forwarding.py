"""Forwarding: the record format, file and push delivery, failures, leases, TLS."""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import random
import threading

import jsonschema
import pytest

from core import exchange_log as xlog
from core import outbox
from core.application import State
from core.catalogue import get_catalogue
from core.forms import parse_application
from core.outbox import record_for
from core.store.applications import ApplicationStore
from counter import forwarding
from counter.demo import DEMO_FORWARDED
from tests.fixtures_forwarding import confirmed_applications, forward_entries, outbox_rows, push_config
from tests.helpers import ROOT

SCHEMA = json.loads((ROOT / "docs" / "record.schema.json").read_text(encoding="utf-8"))


def validator():
    return jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


# ---------------------------------------------------------------- the record format

def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema"]["const"] == "madoguchi.record/3"


def test_records_and_delivered_documents_follow_the_published_schema(db):
    from core.demo import DEMO_APPLICATIONS

    apps = confirmed_applications(db, 3)
    catalogue = get_catalogue()
    forms = [f for f, *_ in DEMO_APPLICATIONS] + [f for f, *_ in DEMO_FORWARDED]
    records = [json.loads(r["record"]) for r in outbox_rows(db)]
    for form in forms:
        from core.application import Application
        procs, values = parse_application(form, catalogue)
        records.append(record_for(Application.create(procs, values, "card", actor="t", channel="kiosk"), "clerk:t"))
    v = validator()
    for record in records:
        v.validate(record)
    for row in outbox_rows(db):
        doc = forwarding.document(row)
        v.validate(doc)
        assert doc["idempotency_key"] == row["idempotency_key"]
    assert {a.id for a in apps} <= {r["application_id"] for r in records}


@pytest.mark.parametrize("break_it", [
    lambda r: r.pop("application_id"),
    lambda r: r.update(schema="madoguchi.record/4"),
    lambda r: r["data"].update(birth_date="1985/04/01"),
    lambda r: r["sources"].update(name="scanner"),
    lambda r: r.update(surprise=1),
])
def test_schema_refuses_a_malformed_record(db, break_it):
    confirmed_applications(db, 1)
    record = json.loads(outbox_rows(db)[0]["record"])
    validator().validate(record)
    broken = copy.deepcopy(record)
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(broken)


def test_logged_digest_is_the_sha256_of_the_bytes_sent(db):
    confirmed_applications(db, 1)
    doc = forwarding.document(outbox_rows(db)[0])
    body = forwarding.canonical_bytes(doc)
    assert xlog.payload_digest(doc) == hashlib.sha256(body).hexdigest()
    assert "山田".encode() in body  # UTF-8, not \\u escapes


# ---------------------------------------------------------------- file mode

def test_file_mode_writes_one_file_per_record_atomically_and_marks_it_forwarded(db, config):
    apps = confirmed_applications(db, 3)
    forwarder = forwarding.Forwarder(config, db=db)
    assert forwarder.run_once() == {"delivered": 3, "retry": 0, "rejected": 0}
    folder = config.path(config.backend.folder)
    files = sorted(p.name for p in folder.iterdir())
    keys = sorted(r["idempotency_key"] for r in outbox_rows(db))
    assert files == [f"{k}.jsonl" for k in keys]  # no temporary files left behind
    for row in outbox_rows(db):
        text = (folder / f"{row['idempotency_key']}.jsonl").read_text(encoding="utf-8")
        assert text.endswith("\n") and text.count("\n") == 1
        assert json.loads(text) == forwarding.document(row)
        assert row["state"] == "delivered" and row["delivered_at"] and row["attempts"] == 1
    store = ApplicationStore(db)
    assert all(store.get(a.id).state is State.FORWARDED for a in apps)
    # The audit trail says who moved it.
    assert store.events(apps[0].id)[-1].actor == forwarding.ACTOR
    entries = forward_entries(db)
    assert sorted(e["application_id"] for e in entries) == sorted(a.id for a in apps)
    assert all(e["result"] == "ok" and e["counterparty"] == f"folder:{folder}" for e in entries)
    assert all(e["subject_ref"] and len(e["subject_ref"]) == 64 for e in entries)
    assert forwarder.run_once()["delivered"] == 0  # nothing twice
    assert xlog.verify(db).ok


def test_a_crash_between_writing_the_file_and_marking_it_resends_into_the_same_file(db, config, monkeypatch):
    confirmed_applications(db, 1)
    forwarder = forwarding.Forwarder(config, db=db)

    def crash(*a, **kw):
        raise KeyboardInterrupt("power cut")  # not an Exception: nothing catches it
    monkeypatch.setattr(forwarding, "record_delivery", crash)
    with pytest.raises(KeyboardInterrupt):
        forwarder.run_once()
    folder = config.path(config.backend.folder)
    first = [p.read_bytes() for p in folder.iterdir()]
    assert len(first) == 1 and outbox_rows(db)[0]["state"] == "pending"
    monkeypatch.undo()
    # The crashed worker's lease must run out (or its process be gone) before a resend.
    assert forwarding.Forwarder(config, db=db).run_once()["delivered"] == 0
    db.execute("UPDATE outbox SET leased_until = '2000-01-01T00:00:00.000000+00:00'")
    assert forwarding.Forwarder(config, db=db).run_once()["delivered"] == 1
    assert [p.read_bytes() for p in folder.iterdir()] == first
    assert len(forward_entries(db, "ok")) == 1


def test_csv_files_flatten_the_record_with_json_form_paths(db, config):
    config = config.replace({"backend": {"file_format": "csv"}})
    apps = confirmed_applications(db, 2)
    forwarding.Forwarder(config, db=db).run_once()
    folder = config.path(config.backend.folder)
    row = outbox_rows(db)[1]
    raw = (folder / f"{row['idempotency_key']}.csv").read_bytes()
    assert b"\r\n" in raw and not raw.startswith(b"\xef\xbb\xbf")
    header, values = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    cells = dict(zip(header, values, strict=True))
    assert header[:3] == ["schema", "idempotency_key", "application_id"]
    assert cells["application_id"] == apps[1].id and cells["idempotency_key"] == row["idempotency_key"]
    assert cells["data.name"] == "髙橋\u3000𠮷子"  # every character kept
    assert cells["data.household[0].birth_date"] == "1987-09-12"
    assert cells["procedures[0]"] == "juminhyo"
    assert cells["sources.juminhyo_copies"] == "typed"
    assert cells["reception_number"] == "" and cells["data.juminhyo_copies"] == "2"


def test_an_unwritable_folder_is_retried_and_delivered_once_writable(db, config, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    config = config.replace({"backend": {"folder": str(blocker / "outbox"), "backoff_initial_seconds": 0.0}})
    confirmed_applications(db, 1)
    assert forwarding.Forwarder(config, db=db).run_once() == {"delivered": 0, "retry": 1, "rejected": 0}
    row = outbox_rows(db)[0]
    assert row["state"] == "pending" and row["last_error"].startswith("file_error") and row["attempts"] == 1
    assert forward_entries(db) == []  # nothing left the building: nothing to log
    blocker.unlink()
    assert forwarding.Forwarder(config, db=db).run_once()["delivered"] == 1


# ---------------------------------------------------------------- backoff and leases

def test_backoff_doubles_with_jitter_up_to_the_maximum():
    rng = random.Random(7)
    for attempts, base in [(1, 1), (2, 2), (3, 4), (5, 16), (9, 256), (10, 300), (40, 300)]:
        waits = [forwarding.backoff_seconds(attempts, 1.0, 300.0, rng) for _ in range(200)]
        assert all(base / 2 <= w <= base for w in waits)
        assert max(waits) - min(waits) > base / 5  # jittered, not in step


def test_two_workers_never_hold_the_same_row(db, config):
    from core.store.db import open_from_config

    confirmed_applications(db, 20)
    workers = [forwarding.Forwarder(config, db=open_from_config(config)) for _ in range(4)]
    claimed: list[int] = []
    lock = threading.Lock()

    def claim_all(w):
        while (row := w.claim()) is not None:
            with lock:
                claimed.append(row["id"])
    threads = [threading.Thread(target=claim_all, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [r["id"] for r in outbox_rows(db)]  # each exactly once
    assert {r["lease_owner"] for r in outbox_rows(db)} <= {w.owner for w in workers}
    for w in workers:
        w.close()


def test_rows_of_a_dead_local_worker_are_released_at_once(db, config):
    import subprocess
    import sys

    confirmed_applications(db, 2)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket
    dead_owner = f"{socket.gethostname()}:{int(gone.stdout)}:abcd1234"
    db.execute("UPDATE outbox SET lease_owner = ?, leased_until = '2999-01-01T00:00:00.000000+00:00'", [dead_owner])
    live = f"{socket.gethostname()}:{__import__('os').getpid()}:live0000"
    db.execute("UPDATE outbox SET lease_owner = ? WHERE id = (SELECT MAX(id) FROM outbox)", [live])
    forwarder = forwarding.Forwarder(config, db=db)
    assert forwarder.release_dead_leases() == 1  # the live one keeps its lease
    assert forwarder.run_once()["delivered"] == 1


# ---------------------------------------------------------------- push mode

def test_push_delivers_each_record_with_its_idempotency_key(db, config, backend_sim):
    sim = backend_sim()
    config = push_config(config, sim.url)
    apps = confirmed_applications(db, 5)
    assert forwarding.Forwarder(config, db=db).run_once()["delivered"] == 5
    stored = {r["idempotency_key"]: r for r in sim.records()}
    rows = outbox_rows(db)
    assert set(stored) == {r["idempotency_key"] for r in rows}
    for row in rows:
        doc = forwarding.document(row)
        assert stored[row["idempotency_key"]]["record"] == doc
        assert stored[row["idempotency_key"]]["sha256"] == hashlib.sha256(forwarding.canonical_bytes(doc)).hexdigest()
    entries = forward_entries(db)
    assert sorted(e["application_id"] for e in entries) == sorted(a.id for a in apps)
    assert {e["counterparty"] for e in entries} == {f"127.0.0.1:{sim.port}"}
    # The log's digest lets the core system match each entry to what it received.
    assert sorted(e["payload_sha256"] for e in entries) == sorted(r["sha256"] for r in stored.values())
    assert all(ApplicationStore(db).get(a.id).state is State.FORWARDED for a in apps)


def test_one_sender_keeps_confirmation_order_and_several_share_the_work(db, config, backend_sim):
    sim = backend_sim("--latency", "30")
    apps = confirmed_applications(db, 6)
    one = forwarding.Forwarder(push_config(config, sim.url, senders=1), db=db)
    assert one.run_once()["delivered"] == 6
    assert [e["application_id"] for e in forward_entries(db)] == [a.id for a in apps]
    assert [r["record"]["application_id"] for r in sim.records()] == [a.id for a in apps]
    more = confirmed_applications(db, 12)
    four = forwarding.Forwarder(push_config(config, sim.url, senders=4), db=db)
    assert four.run_once()["delivered"] == 12
    assert len(four._lanes) == 3  # three more connections worked beside the first
    assert sorted(sim.stored_keys()) == sorted(r["idempotency_key"] for r in outbox_rows(db))
    assert {e["application_id"] for e in forward_entries(db)} == {a.id for a in apps + more}
    four.close()


def test_a_down_backend_is_not_hammered_and_its_return_wakes_every_delayed_record(db, config, backend_sim):
    sim = backend_sim(start=False)
    # Long backoff, as in production: without the wake-up, recovery would take minutes.
    config = push_config(config, sim.url, senders=1, backoff_initial_seconds=120.0, backoff_max_seconds=300.0)
    confirmed_applications(db, 10)
    f = forwarding.Forwarder(config, db=db)
    assert f.run_once() == {"delivered": 0, "retry": 1, "rejected": 0}  # one probe, then the pass stops
    assert [r["attempts"] for r in outbox_rows(db)] == [1] + [0] * 9
    for _ in range(9):
        f.run_once()
    assert all(r["attempts"] == 1 and r["last_error"] == "connection_refused" for r in outbox_rows(db))
    assert f.run_once()["retry"] == 0  # all backed off for minutes now
    sim.start()
    # The first record whose backoff ends finds the core system back…
    db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000+00:00' WHERE id = "
               "(SELECT MIN(id) FROM outbox)")
    assert f.run_once()["delivered"] == 1
    # …and every other delayed record is due at once.
    assert f.seconds_until_due() == 0
    assert f.run_once()["delivered"] == 9
    assert len(sim.stored_keys()) == 10


def test_a_refusal_is_marked_failed_without_retrying_until_fixed(db, config, backend_sim):
    sim = backend_sim("--auth-header", "Bearer right-key")
    wrong = push_config(config.replace({"keys": {"backend_auth_header": "Bearer wrong-key"}}), sim.url)
    confirmed_applications(db, 2)
    assert forwarding.Forwarder(wrong, db=db).run_once() == {"delivered": 0, "retry": 0, "rejected": 2}
    for row in outbox_rows(db):
        assert row["state"] == "failed" and row["last_error"] == "http_401" and row["attempts"] == 1
    assert forwarding.Forwarder(wrong, db=db).run_once()["rejected"] == 0  # no retry storm
    assert len(sim.receipts("unauthorized")) == 2
    status = forwarding.status(db)
    assert status["failed"] == 2 and {r["last_error"] for r in status["failed_records"]} == {"http_401"}
    assert [e["result"] for e in forward_entries(db)] == ["failed", "failed"]  # the data did go out
    # Once the key is fixed, an operator queues them again; they keep their idempotency keys.
    assert outbox.requeue_failed(db) == 2
    right = push_config(config.replace({"keys": {"backend_auth_header": "Bearer right-key"}}), sim.url)
    assert forwarding.Forwarder(right, db=db).run_once()["delivered"] == 2
    assert sorted(sim.stored_keys()) == sorted(r["idempotency_key"] for r in outbox_rows(db))


def test_max_attempts_gives_up_and_leaves_the_record_visible(db, config):
    from tests.helpers import free_port

    config = push_config(config, f"http://127.0.0.1:{free_port()}/records", max_attempts=2,
                         backoff_initial_seconds=0.0, backoff_max_seconds=0.0)
    confirmed_applications(db, 1)
    f = forwarding.Forwarder(config, db=db)
    assert f.run_once()["retry"] == 1
    assert outbox_rows(db)[0]["state"] == "pending"
    assert f.run_once()["retry"] == 1
    row = outbox_rows(db)[0]
    assert row["state"] == "failed" and row["attempts"] == 2 and row["last_error"] == "connection_refused"
    assert forward_entries(db) == []  # a refused connection disclosed nothing


def test_http_errors_are_classified(db, config, backend_sim):
    """A 5xx or a timeout is retried; the wait grows; both are logged as failed transfers."""
    sim = backend_sim("--fail-rate", "1", "--failures", "500")
    config = push_config(config, sim.url, backoff_initial_seconds=30.0, backoff_max_seconds=60.0)
    confirmed_applications(db, 1)
    assert forwarding.Forwarder(config, db=db).run_once()["retry"] == 1
    row = outbox_rows(db)[0]
    assert row["last_error"] == "http_500" and row["state"] == "pending"
    from datetime import datetime
    wait = (datetime.fromisoformat(row["next_attempt_at"]) - datetime.fromisoformat(row["last_attempt_at"]))
    assert 15 <= wait.total_seconds() <= 30
    assert [e["result"] for e in forward_entries(db)] == ["failed"]


def test_a_timeout_is_retried(db, config, backend_sim):
    sim = backend_sim("--fail-rate", "1", "--failures", "timeout", "--hang-seconds", "3")
    config = push_config(config, sim.url, timeout_seconds=0.3)
    confirmed_applications(db, 1)
    assert forwarding.Forwarder(config, db=db).run_once()["retry"] == 1
    assert outbox_rows(db)[0]["last_error"] == "timeout"


# ---------------------------------------------------------------- TLS

@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate for 127.0.0.1, as a city's private CA would issue."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "core-system.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "core.crt", tmp_path / "core.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_push_over_tls_verifies_the_core_systems_certificate(db, config, backend_sim, tls_files):
    cert, key = tls_files
    sim = backend_sim("--tls-cert", str(cert), "--tls-key", str(key))
    assert sim.url.startswith("https://")
    confirmed_applications(db, 1)
    untrusted = push_config(config, sim.url)  # verify_tls = true, the system's CAs only
    assert forwarding.Forwarder(untrusted, db=db).run_once()["retry"] == 1
    assert outbox_rows(db)[0]["last_error"] == "tls_error"
    assert sim.stored_keys() == [] and forward_entries(db) == []
    db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000+00:00'")
    trusted = push_config(config, sim.url, ca_file=str(cert))
    counts = forwarding.Forwarder(trusted, db=db).run_once()
    assert counts["delivered"] == 1, outbox_rows(db)[0]["last_error"]
    assert sim.stored_keys() == [outbox_rows(db)[0]["idempotency_key"]]


def test_a_push_config_without_url_is_refused_with_the_key_named(config):
    from core.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        forwarding.Forwarder(config.replace({"backend": {"mode": "push", "url": ""}}))
    assert e.value.key == "backend.url"


def test_the_counter_surface_runs_the_forwarding_worker_as_its_service(config):
    from web import create_app

    assert forwarding.start_service in create_app(config, "counter").extensions["madoguchi.services"]
    assert forwarding.start_service not in create_app(config, "kiosk").extensions["madoguchi.services"]
