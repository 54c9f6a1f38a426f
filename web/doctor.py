"""`madoguchi doctor`: check a machine before (and while) it serves, and say how to fix each problem.

Each check gives a `Finding`: ok, warn (works, but look at it) or fail (this part will not
work), with what was found and, when not ok, the fix. Which checks run follows the surfaces
the machine serves: a kiosk PC checks its reader, camera, printer and the office server; the
office server its printer, the core system and the prereg server; every machine its files,
disk, clock and TLS. Nothing here prints personal data, a key or a PIN.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click

from core.cli import pass_state
from core.config import Config

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_FREE_BYTES = 2 * 1024 ** 3          # printed PDFs, backups and the WAL need room
CERT_WARN_DAYS = 21
CLOCK_SKEW_FAIL_SECONDS = 60            # tokens expire and the exchange log orders by time
PRINTER_FIXES = {
    "offline": "Check the printer's power and cable or network; `lpstat -p {queue} -l` shows what CUPS sees.",
    "paused": "Resume the queue: `cupsenable {queue}` (and `cupsaccept {queue}`).",
    "stopped": "Clear the printer's error on its panel, then `cupsenable {queue}`.",
    "out_of_paper": "Load paper; the queue resumes by itself.",
    "no_queue": "Create the queue: `lpadmin -p {queue} -E -v DEVICE-URI -m everywhere`, or set [devices].printer.",
    "aborted": "Cancel the stuck jobs: `cancel -a {queue}`.",
    "timeout": "The printer did not answer in time: check the network to it.",
}
READER_FIXES = {
    "no_service": "Start the PC/SC service: `systemctl enable --now pcscd` (package pcscd).",
    "no_reader": "Plug in the card reader; `madoguchi card readers` lists what pcscd sees, and "
                 "[devices].card_reader_name must be part of one of those names.",
}


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def surfaces_of(config: Config, surface: str | None) -> set[str]:
    chosen = surface or config.server.surfaces
    return {"prereg", "kiosk", "counter"} if chosen == "all" else {chosen}


def run_checks(config: Config, surface: str | None = None, public_url: str | None = None) -> list[Finding]:
    serves = surfaces_of(config, surface)
    peers = Peers()    # one request to each other server per run: the clock and network checks share it
    checks: list[Callable[[], Iterator[Finding]]] = [
        lambda: check_files(config), lambda: check_disk(config), lambda: check_database(config),
        lambda: check_clock(config, serves, peers), lambda: check_tls(config, public_url),
    ]
    if "kiosk" in serves:
        checks += [lambda: check_reader(config), lambda: check_camera(config), lambda: check_status_url(config)]
        if config.kiosk.office_server_url:
            checks.append(lambda: check_reachable("office server", config.kiosk.office_server_url, peers))
    if serves & {"kiosk", "counter"}:
        checks.append(lambda: check_printer(config))
    if "counter" in serves:
        checks += [lambda: check_core_system(config), lambda: check_retention(config)]
        if config.prereg.server_url:
            checks.append(lambda: check_reachable("prereg server", config.prereg.server_url, peers))
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check())
        except Exception as e:   # a check that breaks says so and the others still run
            findings.append(Finding("doctor", FAIL, f"a check failed to run ({type(e).__name__})",
                                    "Report this with `madoguchi doctor --json`."))
    return findings


# ---------------------------------------------------------------- files, disk, database

def private_paths(config: Config) -> list[tuple[str, Path, bool]]:
    """(what, path, is_folder) for everything that holds personal data or secrets."""
    db = config.path(config.storage.path)
    paths = [("database folder", db.parent, True), ("database", db, False),
             ("keys folder", config.path(config.keys.dir), True),
             ("printed PDFs folder", config.path(config.devices.pdf_folder), True)]
    keys = config.path(config.keys.dir)
    if keys.is_dir():
        paths += [(f"key {p.name}", p, False) for p in sorted(keys.iterdir()) if p.is_file()]
    for suffix in ("-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            paths.append((f"database {suffix[1:]} file", side, False))
    return paths


def check_files(config: Config) -> Iterator[Finding]:
    me = os.geteuid()
    problems = []
    for what, path, is_folder in private_paths(config):
        if not path.exists():
            continue
        info = path.stat()
        mode = stat.S_IMODE(info.st_mode)
        wanted = 0o700 if is_folder else 0o600
        if mode & 0o077:
            problems.append(Finding("permissions", FAIL, f"{what} {path} is {mode:o}: others may read it",
                                    f"chmod {wanted:o} {path}"))
        if info.st_uid != me:
            problems.append(Finding("permissions", FAIL, f"{what} {path} belongs to uid {info.st_uid}, "
                                    f"not this user ({me})", f"chown {me} {path} (run as the service's user)"))
    yield from problems or [Finding("permissions", OK, "personal data and keys are readable by this user alone")]


def check_disk(config: Config) -> Iterator[Finding]:
    folder = config.path(config.storage.path).parent
    while not folder.exists():
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    free_gb = usage.free / 1024 ** 3
    if usage.free < MIN_FREE_BYTES or usage.free < usage.total * 0.05:
        yield Finding("disk", FAIL, f"{free_gb:.1f} GB free on {folder}",
                      "Free space (old backups, printed PDFs under [devices].pdf_folder) or enlarge the disk.")
    else:
        yield Finding("disk", OK, f"{free_gb:.1f} GB free on {folder}")


def check_database(config: Config) -> Iterator[Finding]:
    from core.store import tenancy
    from core.store.db import SchemaNotOwned, can_write, is_postgresql, is_unwritable, open_from_config
    from core.store.postgres import redacted
    on_postgresql = config.storage.engine == "postgresql"
    path = config.path(config.storage.path)
    where = f"PostgreSQL at {redacted(config.storage.url)}" if on_postgresql else str(path)
    fix = ("Check the server runs and accepts this user (pg_hba.conf), and [storage].url and [keys].database_password."
           if on_postgresql else "Give the service's user its folder, and check the disk is not read-only or full.")
    if not on_postgresql and not path.exists():
        yield Finding("database", FAIL, f"no database at {path}", "Create it: `madoguchi init`.")
        return
    try:
        db = open_from_config(config)
    except SchemaNotOwned:
        yield Finding("database", FAIL, f"{where} lacks this version's tables, and this role may not make them",
                      "Run `madoguchi init` with the database owner's config, then start this again.")
        return
    except Exception as e:
        if not is_unwritable(e):
            raise
        yield Finding("database", FAIL, f"{where} cannot be opened for writing ({type(e).__name__})", fix)
        return
    try:
        writable = can_write(db)
        mode = "wal" if is_postgresql(db) else db.execute("PRAGMA journal_mode").fetchone()[0]
        town = tenancy.current_tenant(db)    # 'default' on SQLite
        try:
            tenancy.refuse_if_seeing_every_town(db)
            sees_every_town = None
        except tenancy.TenantError as e:
            sees_every_town = str(e)
    finally:
        db.conn.close()
    if sees_every_town:
        yield Finding("database", FAIL, f"{where}: {sees_every_town}",
                      "Give each town's processes its own config: [storage].url with its role"
                      " (`madoguchi tenants list`).")
    if town != tenancy.DEFAULT_TENANT:
        where += f" as town {town}"
    if not writable:
        yield Finding("database", FAIL, f"{where} is not writable",
                      "Point [storage].url at the primary (not a standby)." if on_postgresql else fix)
    elif mode != "wal":
        yield Finding("database", WARN, f"{path} is in {mode} mode, not WAL", "Open it once with `madoguchi init`.")
    else:
        yield Finding("database", OK, f"{where} is writable" + ("" if on_postgresql else " (WAL)"))


# ---------------------------------------------------------------- clock

class Peers:
    """The answers of the other servers' /healthz, asked once per run (an answer or its error)."""

    def __init__(self):
        self._answers: dict[str, object] = {}

    def health(self, base_url: str):
        """`requests`' response for `base_url`/healthz; raises its RequestException."""
        import requests
        url = base_url.rstrip("/") + "/healthz"
        if url not in self._answers:
            try:
                self._answers[url] = requests.get(url, timeout=5)
            except requests.RequestException as e:
                self._answers[url] = e
        answer = self._answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer


def check_clock(config: Config, serves: set[str], peers: Peers) -> Iterator[Finding]:
    synced = _ntp_synchronized()
    if synced is True:
        yield Finding("clock", OK, "the system clock is synchronised (NTP)")
    elif synced is False:
        yield Finding("clock", FAIL, "the system clock is not synchronised",
                      "Enable time sync: `timedatectl set-ntp true` (systemd-timesyncd or chrony).")
    else:
        yield Finding("clock", WARN, "cannot tell whether the clock is synchronised (no timedatectl)",
                      "Install systemd-timesyncd or chrony and enable it.")
    peers = [config.kiosk.office_server_url] if "kiosk" in serves else []
    peers += [config.prereg.server_url] if "counter" in serves else []
    for url in filter(None, peers):
        skew = _skew_seconds(peers, url)
        if skew is not None and abs(skew) > CLOCK_SKEW_FAIL_SECONDS:
            yield Finding("clock", FAIL, f"this clock is {skew:+.0f} s from {urlsplit(url).netloc}'s",
                          "Synchronise both machines to the same NTP servers.")


def _ntp_synchronized() -> bool | None:
    if not shutil.which("timedatectl"):
        return None
    try:
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value) if out.returncode == 0 else None


def _skew_seconds(peers: Peers, base_url: str) -> float | None:
    import requests
    try:
        r = peers.health(base_url)
    except requests.RequestException:
        return None     # check_reachable says so
    date = r.headers.get("Date")
    if not date:
        return None
    theirs = email.utils.parsedate_to_datetime(date)
    return (dt.datetime.now(dt.UTC) - theirs).total_seconds()


# ---------------------------------------------------------------- TLS

def check_tls(config: Config, public_url: str | None) -> Iterator[Finding]:
    host = config.server.host
    local = host in ("127.0.0.1", "::1", "localhost")
    if not local and not config.server.behind_tls:
        yield Finding("tls", FAIL, f"serving on {host} without TLS in front",
                      "Put the reverse proxy of docs/deploy.md in front, listen on 127.0.0.1, "
                      "and set [server].behind_tls = true.")
    elif not local:
        yield Finding("tls", WARN, f"behind a TLS proxy, but listening on {host}: plain HTTP reaches it too",
                      "Listen on 127.0.0.1 when the proxy runs on this machine ([server].host).")
    elif config.server.behind_tls:
        yield Finding("tls", OK, "behind the TLS proxy, listening on this machine only")
    urls = [u for u in (public_url, config.kiosk.office_server_url, config.prereg.server_url, config.backend.url)
            if u and urlsplit(u).scheme == "https"]
    for url in dict.fromkeys(urls):
        yield _certificate(url, ca_file=config.backend.ca_file if url == config.backend.url else "")
    if public_url and urlsplit(public_url).scheme != "https":
        yield Finding("tls", FAIL, f"{public_url} is not https", "Serve the public address through the TLS proxy.")
    if local and not config.server.behind_tls and not urls and not public_url:
        yield Finding("tls", OK, "listening on this machine only; no https address to check")


def _certificate(url: str, ca_file: str = "") -> Finding:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context(cafile=ca_file or None)
    try:
        with socket.create_connection((host, port), timeout=5) as sock, \
                context.wrap_socket(sock, server_hostname=host) as tls:
            cert = tls.getpeercert()
    except ssl.SSLCertVerificationError as e:
        return Finding("tls", FAIL, f"{host}:{port}: the certificate is not trusted ({e.verify_message})",
                       "Install a certificate from a CA this machine trusts, or give the CA's file "
                       "([backend].ca_file, or the system's store: /usr/local/share/ca-certificates + "
                       "update-ca-certificates).")
    except OSError as e:
        return Finding("tls", FAIL, f"{host}:{port}: no TLS connection ({type(e).__name__})",
                       "Check the address, the proxy and the firewall.")
    not_after = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])), dt.UTC)
    days = (not_after - dt.datetime.now(dt.UTC)).days
    if days < CERT_WARN_DAYS:
        return Finding("tls", WARN, f"{host}:{port}: the certificate expires in {days} days",
                       "Renew it (certbot renew, or the city's CA).")
    return Finding("tls", OK, f"{host}:{port}: certificate valid for {days} more days")


# ---------------------------------------------------------------- devices

def check_reader(config: Config) -> Iterator[Finding]:
    from hardware.cards import reader_status
    state = reader_status(config)
    if state == "ready":
        what = "the emulated card reader (demo)" if config.devices.card_reader == "emulated" else "the card reader"
        yield Finding("reader", OK, f"{what} is there")
    else:
        yield Finding("reader", FAIL, f"card reader: {state.replace('_', ' ')}", READER_FIXES[state])


def check_camera(config: Config) -> Iterator[Finding]:
    source_setting = config.devices.camera
    from hardware.camera.frames import source_for_setting
    source = source_for_setting(source_setting, config.base_dir, live=False)
    if source is None:
        yield Finding("camera", OK, "no camera configured (QR codes come from a handheld reader)")
        return
    try:
        source.open()
        frame = source.read()
    except Exception as e:   # CameraError, or OpenCV's own
        frame, why = None, getattr(e, "code", type(e).__name__)
    else:
        why = "no frame"
    finally:
        source.close()
    if frame is not None:
        yield Finding("camera", OK, f"camera {source_setting} gives frames ({frame.shape[1]}×{frame.shape[0]})")
    else:
        yield Finding("camera", FAIL, f"camera {source_setting} gives no frame ({why})",
                      "Check it is plugged in (`ls /dev/video*`), that the service's user is in the group "
                      "`video`, and [devices].camera.")


def check_printer(config: Config) -> Iterator[Finding]:
    from hardware.printer import open_printer
    queue = config.devices.printer
    state = open_printer(config).status()
    if state in ("ready", "idle"):
        yield Finding("printer", OK, f"print queue {queue} is ready")
    else:
        yield Finding("printer", FAIL, f"print queue {queue}: {state.replace('_', ' ')}",
                      PRINTER_FIXES.get(state, "See `lpstat -t`.").format(queue=queue))


def check_retention(config: Config) -> Iterator[Finding]:
    days = config.retention.personal_data_days
    if days:
        yield Finding("retention", OK, f"personal data of finished applications is purged after {days} days")
    else:
        yield Finding("retention", WARN, "finished applications keep their personal data for ever "
                      "([retention].personal_data_days = 0)",
                      "Set [retention].personal_data_days to the city's 保存年限 for these records; "
                      "`madoguchi purge-personal --dry-run` shows what it would delete.")


def check_status_url(config: Config) -> Iterator[Finding]:
    """The slip's QR opens the status page on a phone: it must name the prereg server's public address."""
    url = config.prereg.public_url
    if not url:
        yield Finding("status page", WARN, "[prereg].public_url is not set: the slip's QR names this machine's "
                      "own address, which a phone cannot open", "Set [prereg].public_url to the prereg server's "
                      "https address, e.g. https://madoguchi.city.example.jp.")
    elif urlsplit(url).scheme != "https":
        yield Finding("status page", WARN, f"[prereg].public_url ({url}) is not https",
                      "Use the prereg server's https address: the QR's URL holds the status page's key.")
    else:
        yield Finding("status page", OK, f"the slip's QR opens {urlsplit(url).netloc}")


# ---------------------------------------------------------------- other machines

def check_reachable(what: str, url: str, peers: Peers) -> Iterator[Finding]:
    import requests
    try:
        r = peers.health(url)
    except requests.exceptions.SSLError:
        yield Finding("network", FAIL, f"{what} at {_origin(url)}: its certificate is not trusted",
                      "See the tls finding above.")
        return
    except requests.RequestException as e:
        yield Finding("network", FAIL, f"{what} at {_origin(url)} cannot be reached ({type(e).__name__})",
                      "Check the address in the config, that the server runs, and the firewall between.")
        return
    if r.status_code >= 500:
        yield Finding("network", FAIL, f"{what} at {_origin(url)} answers {r.status_code}",
                      f"Run `madoguchi doctor` on {what}.")
    else:
        yield Finding("network", OK, f"{what} at {_origin(url)} answers")


def check_core_system(config: Config) -> Iterator[Finding]:
    backend = config.backend
    if backend.mode == "file":
        folder = config.path(backend.folder)
        parent = folder if folder.exists() else folder.parent
        if os.access(parent, os.W_OK):
            yield Finding("core system", OK, f"records are written to {folder} (file mode)")
        else:
            yield Finding("core system", FAIL, f"records cannot be written to {folder}",
                          "Give the service's user that folder ([backend].folder).")
        return
    if backend.mode == "pull":
        yield Finding("core system", OK, "the core system pulls records (pull mode): nothing to reach from here")
        return
    parts = urlsplit(backend.url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as e:
        yield Finding("core system", FAIL, f"{host}:{port} cannot be reached ({type(e).__name__})",
                      "Check [backend].url, the core system's interface server and the firewall; records wait "
                      "in the outbox meanwhile (`madoguchi forward --status`).")
        return
    yield Finding("core system", OK, f"{host}:{port} accepts connections")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# ---------------------------------------------------------------- the command

MARKS = {OK: "✓", WARN: "!", FAIL: "✗"}


def render(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{MARKS[f.status]} {f.check}: {f.detail}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
    failed = sum(f.status == FAIL for f in findings)
    warned = sum(f.status == WARN for f in findings)
    lines.append(f"{failed} problem(s), {warned} warning(s)" if failed or warned else "all checks passed")
    return "\n".join(lines)


@click.command("doctor")
@click.option("--surface", type=click.Choice(["all", "prereg", "kiosk", "counter"]), default=None,
              help="The surfaces this machine serves (default: [server].surfaces).")
@click.option("--public-url", default=None, help="This machine's https address through its TLS proxy, to check.")
@click.option("--json", "as_json", is_flag=True, help="Findings as JSON.")
@pass_state
def doctor(state, surface, public_url, as_json):
    """Check this machine: reader, printer, camera, TLS, clock, disk, file permissions, and
    whether the office server, the prereg server and the core system can be reached."""
    findings = run_checks(state.config, surface, public_url)
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in findings], ensure_ascii=False, indent=2))
    else:
        click.echo(render(findings))
    if any(f.status == FAIL for f in findings):
        raise SystemExit(1)
