"""Running it for real: the systemd units, nginx in front with TLS, and the kiosk screen under cage."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import LiveServer, free_port, write_config
from tests.tls_helpers import self_signed
from web.deploy import UNITS


@pytest.fixture
def units(runner, tmp_path) -> Path:
    out = tmp_path / "units"
    result = runner.invoke("deploy", "units", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Key → values of a unit file (continuation lines joined), as systemd reads them."""
    settings: dict[str, list[str]] = {}
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_units_pass_systemds_own_check(units):
    assert sorted(p.stem for p in units.glob("*.service")) == sorted(UNITS)
    assert [p.name for p in units.glob("*.timer")] == ["madoguchi-backup.timer"]
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    checked = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(units.glob("*.service"))),
                              str(units / "madoguchi-backup.timer")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_servers_run_as_their_own_user_restart_on_failure_and_are_hardened(units):
    for name in ("madoguchi-office", "madoguchi-prereg", "madoguchi-forwarder", "madoguchi-kiosk", "madoguchi-backup"):
        s = unit_settings(units / f"{name}.service")
        assert s["User"] == ["madoguchi"], name
        assert s.get("Restart") == (None if name == "madoguchi-backup" else ["on-failure"]), name
        assert s["ExecStart"][0].startswith(str(Path(os.sys.executable).parent / "madoguchi")), name
        assert s["Environment"] == ["MADOGUCHI_CONFIG=/etc/madoguchi/config.toml"]
        for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet",
                    "SystemCallFilter", "RestrictAddressFamilies", "UMask"):
            assert key in s, (name, key)
    assert "DeviceAllow" in unit_settings(units / "madoguchi-kiosk.service")      # the camera only
    screen = unit_settings(units / "madoguchi-kiosk-screen.service")
    assert screen["User"] == ["kiosk"] and screen["PAMName"] == ["login"] and screen["Restart"] == ["always"]
    assert screen["ExecStart"][0].startswith("/usr/bin/cage -d -- /usr/bin/chromium --ozone-platform=wayland --kiosk")


def test_systemd_rates_the_servers_exposure_low(units):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    scores = {}
    for path in sorted(units.glob("*.service")):
        out = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(path)], capture_output=True,
                             text=True).stdout
        scores[path.stem] = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", out).group(1))
    print("systemd-analyze security:", scores)
    assert all(scores[n] <= 2.0 for n in ("madoguchi-office", "madoguchi-prereg", "madoguchi-forwarder",
                                          "madoguchi-kiosk", "madoguchi-backup")), scores
    assert scores["madoguchi-kiosk-screen"] <= 5.0, scores      # Chromium's sandbox needs namespaces


def test_root_is_refused_as_the_services_user(runner, tmp_path):
    result = runner.invoke("deploy", "units", "--out", str(tmp_path / "u"), "--user", "root")
    assert result.exit_code != 0 and "must not run as root" in result.output


def test_a_towns_units_are_named_for_it_and_run_its_own_config(runner, tmp_path):
    out = tmp_path / "town"
    result = runner.invoke("deploy", "units", "--out", str(out), "--town", "achi")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "madoguchi-backup-achi.service", "madoguchi-backup-achi.timer", "madoguchi-forwarder-achi.service",
        "madoguchi-office-achi.service", "madoguchi-prereg-achi.service"]
    for path in out.glob("*.service"):
        s = unit_settings(path)
        assert s["Environment"] == ["MADOGUCHI_CONFIG=/etc/madoguchi/achi.toml"], path.name
        assert s["StateDirectory"] == ["madoguchi-achi"], path.name
    if shutil.which("systemd-analyze"):
        checked = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(out.iterdir()))],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    for bad in (["--town", "A-chi"], ["--town", "achi", "--only", "madoguchi-kiosk"]):
        refused = runner.invoke("deploy", "units", "--out", str(tmp_path / "bad"), *bad)
        assert refused.exit_code != 0 and not (tmp_path / "bad").exists(), bad


# ---------------------------------------------------------------- nginx with TLS in front

def start_proxy(tmp_path, overrides, how_many: int = 1):
    """`how_many` madoguchi servers (behind_tls, on one database) with nginx in front of them
    (a self-signed certificate): (the proxy's facts, the nginx process, the servers). `overrides`: the
    fixture's, for the test's storage engine."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is missing: run scripts/install-system-packages test")
    config_file = write_config(tmp_path / "config.toml",
                               overrides(server={"behind_tls": True}, monitoring={"log_format": "json"}))
    servers = [LiveServer(config_file) for _ in range(how_many)]
    cert, key = self_signed(tmp_path, 90)
    https_port, http_port = free_port(), free_port()
    from web.deploy import write_nginx
    _, site = write_nginx(tmp_path / "nginx", server_name="localhost", cert=cert, key=key,
                          upstreams=[f"127.0.0.1:{s.port}" for s in servers], https_port=https_port,
                          http_port=http_port)
    prefix = tmp_path / "nginx-run"
    prefix.mkdir()
    main = prefix / "nginx.conf"
    temp = " ".join(f"{kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                       "scgi"))
    main.write_text(f"worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/error.log;\n"
                    f"events {{}}\nhttp {{ {temp} include {site}; }}\n")
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(main), "-g", "daemon off;"],
                            stderr=subprocess.PIPE)
    base = f"https://localhost:{https_port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(base + "/healthz", verify=str(cert), timeout=1)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                for server in servers:
                    server.stop()
                why = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"nginx did not start: {why}") from None
            time.sleep(0.1)
    facts = {"base": base, "cert": str(cert), "http": f"http://localhost:{http_port}", "server": servers[0],
             "servers": servers, "https_port": https_port, "config_file": config_file}
    return facts, proc, servers


def stop_proxy(proc, servers):
    proc.terminate()
    proc.wait(10)
    for server in servers:
        server.stop()


@pytest.fixture
def proxied(tmp_path, overrides):
    """madoguchi behind_tls on 127.0.0.1, nginx in front with a self-signed certificate."""
    facts, proc, servers = start_proxy(tmp_path, overrides)
    yield facts
    stop_proxy(proc, servers)


def test_through_nginx_the_pages_are_https_with_hsts_and_secure_cookies(proxied):
    r = requests.get(proxied["base"] + "/prereg/", verify=proxied["cert"], timeout=10)
    assert r.status_code == 200
    assert "max-age=" in r.headers["Strict-Transport-Security"]
    start = requests.get(proxied["base"] + "/counter/sign-in", verify=proxied["cert"], timeout=10)
    cookies = start.headers.get("Set-Cookie", "")
    assert cookies and "Secure" in cookies and "HttpOnly" in cookies


def test_plain_http_is_sent_to_https(proxied):
    r = requests.get(proxied["http"] + "/prereg/", allow_redirects=False, timeout=10)
    assert r.status_code == 301 and r.headers["Location"].startswith(f"https://localhost:{proxied['https_port']}/")


def test_a_client_cannot_pose_as_the_server_itself_through_the_proxy(proxied):
    for path in ("/metrics", "/metrics/"):
        r = requests.get(proxied["base"] + path, verify=proxied["cert"], timeout=10,
                         headers={"X-Forwarded-For": "127.0.0.1"})
        assert r.status_code == 404, path
    # The proxy's own request id reaches madoguchi's log and the answer.
    r = requests.get(proxied["base"] + "/prereg/", verify=proxied["cert"], timeout=10)
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-Id"])
    assert r.headers["X-Request-Id"] in proxied["server"].output()


def test_the_kiosk_stream_passes_events_through_the_proxy_unbuffered(proxied):
    # An unpaired browser gets its answer at once (403), not after the proxy's buffer fills.
    started = time.monotonic()
    r = requests.get(proxied["base"] + "/kiosk/events/stream", verify=proxied["cert"], timeout=10, stream=True)
    assert r.status_code in (403, 200)
    assert time.monotonic() - started < 5
    r.close()


# ---------------------------------------------------------------- the kiosk screen

def test_the_kiosk_screen_unit_boots_chromium_under_cage_on_its_pairing_url(units, tmp_path, config_file):
    """The screen unit's own ExecStart, run under a headless wlroots backend as an unprivileged user,
    opens the pairing URL `madoguchi kiosk pair --screen-env` wrote for it."""
    if not shutil.which("cage") or not shutil.which("chromium"):
        pytest.fail("cage or chromium is missing: run scripts/install-system-packages test")
    # Short and outside pytest's 0700 folder: the Wayland socket's path must fit in 108 bytes,
    # and the screen's user must reach it.
    home = Path(tempfile.mkdtemp(prefix="mdg-screen-", dir="/tmp"))
    server = LiveServer(config_file, "kiosk")
    try:
        env_file = tmp_path / "kiosk-screen.env"
        paired = subprocess.run([str(Path(os.sys.executable).parent / "madoguchi"), "kiosk", "pair", "--url",
                                 server.url, "--screen-env", str(env_file)], capture_output=True, text=True,
                                env=dict(os.environ, MADOGUCHI_CONFIG=str(config_file)), check=True)
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        kiosk_url = env_file.read_text().strip().removeprefix("KIOSK_URL=")
        assert kiosk_url == paired.stdout.strip() and "/kiosk/pair?code=" in kiosk_url

        exec_start = unit_settings(units / "madoguchi-kiosk-screen.service")["ExecStart"][0]
        runtime = home / "run"
        runtime.mkdir()
        command = [arg.replace("${KIOSK_URL}", kiosk_url) for arg in shlex.split(exec_start)]
        command = [f"--user-data-dir={home}/browser" if a.startswith("--user-data-dir=") else a for a in command]
        user = "nobody"
        shutil.chown(home, user)
        shutil.chown(runtime, user)
        runtime.chmod(0o700)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime),
               "WLR_BACKENDS": "headless", "WLR_RENDERER": "pixman", "WLR_LIBINPUT_NO_DEVICES": "1"}
        runas = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
        screen_log = open(tmp_path / "screen.log", "w")
        screen = subprocess.Popen([*runas, "env", *(f"{k}={v}" for k, v in env.items()), *command],
                                  stdout=screen_log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 45
            while "GET /kiosk/pair 200" not in server.output() and time.monotonic() < deadline:
                assert screen.poll() is None, f"cage ended: {(tmp_path / 'screen.log').read_text()[-2000:]}"
                time.sleep(0.5)
        finally:
            if screen.poll() is None:
                os.killpg(screen.pid, 15)
                screen.wait(15)
            screen_log.close()
        assert "GET /kiosk/pair 200" in server.output()
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_a_paired_browser_opening_a_used_pairing_url_goes_to_the_kiosk(app):
    from tests.kiosk_helpers import Kiosk, pairing_code
    kiosk = Kiosk(app, paired=False)
    code = pairing_code(app.config["MADOGUCHI"])
    kiosk.pair(code)
    r = kiosk.get(f"/kiosk/pair?code={code}")         # the screen's next boot: the code is used
    assert r.status_code == 302 and r.location.endswith("/kiosk/")
    stranger = Kiosk(app, paired=False)
    assert stranger.get(f"/kiosk/pair?code={code}").status_code == 400


def test_catalogues_load_where_the_package_folder_cannot_be_written(tmp_path, monkeypatch):
    """An installed package run by the service's user: the .mo files are made in memory."""
    import tempfile as tempfile_module

    from babel import support

    from web import i18n
    copy = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATION_DIRS[1], copy, ignore=shutil.ignore_patterns("*.mo"))

    def unwritable(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(i18n, "TRANSLATION_DIRS", [copy])
    monkeypatch.setattr(tempfile_module, "mkstemp", unwritable)
    monkeypatch.setattr(i18n, "IN_MEMORY", {})
    i18n.compile_catalogues()
    assert not list(copy.glob("*/LC_MESSAGES/*.mo"))
    domain = i18n.ExactDomain([copy])
    english = domain._load("en")
    assert isinstance(english, support.Translations) and english._catalog, "nothing loaded from memory"


def test_with_two_servers_a_kiosks_browser_stays_on_one_and_others_are_spread(tmp_path, overrides):
    """Sticky routing for the kiosk's visits and events (they live in one server's memory): every
    request with the kiosk's device cookie reaches the same server; other clients reach both."""
    import json

    from core.config import load_config
    from tests.kiosk_helpers import device_secret
    facts, proc, servers = start_proxy(tmp_path, overrides, how_many=2)
    try:
        secret = device_secret(load_config(facts["config_file"], base_dir=tmp_path))
        kiosk = requests.Session()      # the kiosk's browser: its device cookie, and the visit's session
        kiosk.headers["Cookie"] = f"madoguchi_kiosk_device={secret}"
        for _ in range(12):
            assert kiosk.get(facts["base"] + "/kiosk/", verify=facts["cert"], timeout=10).status_code == 200
        for _ in range(24):
            requests.get(facts["base"] + "/prereg/", verify=facts["cert"], timeout=10)

        def served(server, route):
            lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
            return sum(1 for e in lines if e.get("route") == route and e.get("status") == 200)
        kiosk_pages = [served(s, "/kiosk/") for s in servers]
        assert sorted(kiosk_pages) == [0, 12], kiosk_pages
        assert all(served(s, "/prereg/") for s in servers), [served(s, "/prereg/") for s in servers]
    finally:
        stop_proxy(proc, servers)
