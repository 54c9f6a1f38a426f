"""`madoguchi doctor`: each problem a machine can have is found and comes with its fix."""
from __future__ import annotations

import http.server
import json
import re
import ssl
import threading

import cv2
import pytest

from hardware.camera import testmedia
from tests.helpers import free_port
from tests.tls_helpers import self_signed
from web.doctor import FAIL, OK, WARN, run_checks


def findings(config, surface=None, public_url=None) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in run_checks(config, surface, public_url):
        out.setdefault(f.check, []).append(f)
    return out


def statuses(found, check) -> set[str]:
    return {f.status for f in found[check]}


@pytest.fixture
def ready(runner, config):
    runner.invoke("init")
    return config


def test_a_fresh_demo_machine_passes(runner, ready):
    result = runner.invoke("doctor", "--json")
    assert result.exit_code == 0, result.output
    found = {f["check"]: f for f in json.loads(result.output)}
    for check in ("permissions", "disk", "database", "reader", "camera", "printer", "core system", "tls"):
        assert found[check]["status"] == OK, found[check]
    assert found["clock"]["status"] in (OK, WARN)   # a container may have no timedatectl
    assert found["status page"]["status"] == WARN     # the demo has no public prereg address


@pytest.mark.sqlite_only("a SQLite file not made yet (PostgreSQL's database checks: the test below)")
def test_no_database_says_to_run_init(config):
    db = findings(config)["database"][0]
    assert db.status == FAIL and "madoguchi init" in db.fix


def test_a_postgresql_database_is_checked_on_its_server(config, postgres_url, tmp_path):
    import psycopg
    on_postgresql = config.replace({"storage": {"engine": "postgresql", "url": postgres_url}})
    db = findings(on_postgresql)["database"][0]
    assert db.status == OK and "writable" in db.detail
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER DATABASE " + conn.info.dbname + " SET default_transaction_read_only = on")
    db = findings(on_postgresql)["database"][0]
    assert db.status == FAIL and "primary" in db.fix
    absent = config.replace({"storage": {"engine": "postgresql", "url": f"postgresql:///x?host={tmp_path}"}})
    db = findings(absent)["database"][0]
    assert db.status == FAIL and "cannot be opened" in db.detail and "pg_hba.conf" in db.fix


@pytest.mark.sqlite_only("the mode of SQLite's database file")
def test_a_database_others_can_read_is_a_problem_with_its_chmod(runner, ready):
    db = ready.path(ready.storage.path)
    db.chmod(0o644)
    result = runner.invoke("doctor")
    assert result.exit_code == 1
    assert f"database {db} is 644: others may read it" in result.output
    assert f"fix: chmod 600 {db}" in result.output


def test_a_missing_print_queue_is_named_with_the_lpadmin_fix(ready, cupsd):
    config = ready.replace({"devices": {"printer": "madoguchi-no-such-queue"}})
    printer = findings(config, "kiosk")["printer"][0]
    assert printer.status == FAIL and "no queue" in printer.detail
    assert "lpadmin -p madoguchi-no-such-queue" in printer.fix


def test_a_paused_queue_says_cupsenable(ready, make_queue):
    from tests.fixtures_printing import run
    queue = make_queue("ok")
    run("cupsdisable", queue)
    printer = findings(ready.replace({"devices": {"printer": queue}}), "counter")["printer"][0]
    assert printer.status == FAIL and f"cupsenable {queue}" in printer.fix


def test_a_missing_card_reader_is_found_through_pcscd(ready, pcsc_stack):
    there = ready.replace({"devices": {"card_reader": "pcsc"}})
    assert findings(there, "kiosk")["reader"][0].status == OK
    missing = ready.replace({"devices": {"card_reader": "pcsc", "card_reader_name": "No Such Reader"}})
    reader = findings(missing, "kiosk")["reader"][0]
    assert reader.status == FAIL and "madoguchi card readers" in reader.fix


def test_the_camera_gives_a_frame_or_is_named(ready, tmp_path):
    image = tmp_path / "code.png"
    cv2.imwrite(str(image), testmedia.render(testmedia.sample_token()))
    camera = findings(ready.replace({"devices": {"camera": str(image)}}), "kiosk")["camera"][0]
    assert camera.status == OK and "gives frames" in camera.detail
    gone = findings(ready.replace({"devices": {"camera": "/dev/video97"}}), "kiosk")["camera"][0]
    assert gone.status == FAIL and "group `video`" in gone.fix


def test_an_office_server_that_is_down_is_reached_or_named(ready, live_server):
    closed = f"http://127.0.0.1:{free_port()}"
    down = findings(ready.replace({"kiosk": {"office_server_url": closed}}), "kiosk")["network"][0]
    assert down.status == FAIL and "cannot be reached" in down.detail and "firewall" in down.fix
    server = live_server("counter")
    up = findings(ready.replace({"kiosk": {"office_server_url": server.url}}), "kiosk")
    assert up["network"][0].status == OK
    assert all(f.status != FAIL for f in up["clock"])     # same machine: no skew


def test_a_core_system_that_cannot_be_reached(ready):
    config = ready.replace({"backend": {"mode": "push", "url": f"http://127.0.0.1:{free_port()}/records"}})
    core = findings(config, "counter")["core system"][0]
    assert core.status == FAIL and "madoguchi forward --status" in core.fix


def test_serving_a_network_address_without_tls_in_front_is_a_problem(ready):
    tls = findings(ready.replace({"server": {"host": "0.0.0.0"}}))["tls"]
    assert any(f.status == FAIL and "behind_tls" in f.fix for f in tls)
    exposed = findings(ready.replace({"server": {"host": "0.0.0.0", "behind_tls": True}}))["tls"]
    assert [f.status for f in exposed] == [WARN] and "127.0.0.1" in exposed[0].fix
    proxied = findings(ready.replace({"server": {"behind_tls": True}}))["tls"]
    assert [f.status for f in proxied] == [OK]


@pytest.fixture
def tls_server(tmp_path):
    servers = []

    def start(days: int):
        cert, key = self_signed(tmp_path, days)
        httpd = http.server.HTTPServer(("127.0.0.1", free_port()), http.server.BaseHTTPRequestHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"https://localhost:{httpd.server_address[1]}", cert
    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_an_untrusted_certificate_and_one_about_to_expire_are_found(ready, tls_server):
    url, cert = tls_server(days=300)
    untrusted = findings(ready, public_url=url)["tls"][0]
    assert untrusted.status == FAIL and "not trusted" in untrusted.detail and "update-ca-certificates" in untrusted.fix
    trusted = findings(ready.replace({"backend": {"mode": "push", "url": url + "/records", "ca_file": str(cert)}}),
                       "counter")["tls"]
    assert trusted[0].status == OK and re.search(r"valid for 29\d more days", trusted[0].detail)
    soon_url, soon_cert = tls_server(days=5)
    soon = findings(ready.replace({"backend": {"mode": "push", "url": soon_url, "ca_file": str(soon_cert)}}),
                    "counter")["tls"][0]
    assert soon.status == WARN and "expires in" in soon.detail and "Renew" in soon.fix


def test_a_plain_http_public_address_is_a_problem(ready):
    tls = findings(ready, public_url="http://madoguchi.example.jp/")["tls"]
    assert any(f.status == FAIL and "not https" in f.detail for f in tls)


def test_the_slips_qr_needs_the_prereg_servers_public_https_address(ready):
    assert findings(ready, "kiosk")["status page"][0].status == WARN
    plain = findings(ready.replace({"prereg": {"public_url": "http://madoguchi.example.jp"}}), "kiosk")
    assert plain["status page"][0].status == WARN and "https" in plain["status page"][0].fix
    good = findings(ready.replace({"prereg": {"public_url": "https://madoguchi.example.jp"}}), "kiosk")
    assert good["status page"][0].status == OK


def test_the_office_is_told_to_set_the_citys_retention_period(ready):
    unset = findings(ready, "counter")["retention"][0]
    assert unset.status == WARN and "purge-personal --dry-run" in unset.fix
    assert findings(ready.replace({"retention": {"personal_data_days": 1825}}), "counter")["retention"][0].status == OK
