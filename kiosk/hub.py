"""The kiosk station: its visits, its devices' events, and the events its page listens to.

One `Hub` per app. Device events (a card put down or taken away, a QR code seen by the
camera, a print job finishing) change the visit on the server first; the page learns what
to show next from the hub's event list, by server-sent events or by polling. The server is
the authority: a removed card or an idle visit is wiped here even if no page is listening.
"""
from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from core import exchange_log as xlog
from core import metrics
from core.application import Application, Source, State, parse_form_code, utcnow
from core.catalogue import get_catalogue
from core.errors import MadoguchiError
from core.navigator import guide_record, recorded_guide
from core.services.disclosure import disclose_own_log
from core.services.prereg import open_preregistration
from core.services.printing import print_application, print_log
from core.site import current_site
from core.store.applications import ApplicationStore
from core.store.db import open_from_config, write
from kiosk import reception
from kiosk.devices import Devices
from kiosk.flow import (
    CardRead,
    PrintStatus,
    Visit,
    VisitStore,
    apply_card,
    apply_prereg,
    card_fields,
    guide_answers,
    licence_addresses,
    validated_form,
)

if TYPE_CHECKING:  # devices are loaded only where they are used (kiosk.devices)
    from hardware.cards.model import CardData, TriesLeft

log = logging.getLogger("madoguchi.kiosk")

# Printing problems a retry can fix (paper, cover, a printer switched off). The others
# (a character the fonts lack, a malformed value) need a clerk.
RETRYABLE_PRINT_ERRORS = {"offline", "paused", "out_of_paper", "stopped", "aborted", "timeout", "no_queue", "error"}
# Seconds a visit may stay untouched beyond the idle prompt before the server wipes it
# (the page normally wipes first; this covers a page that stopped running).
SERVER_GRACE_SECONDS = 10
EVENT_HISTORY = 1000


def _exchange_summary(entry: dict[str, Any]) -> dict[str, Any]:
    """What a kiosk PC tells the office of one of its exchange-log entries."""
    return {k: entry[k] for k in ("at", "counterparty", "purpose", "payload_sha256", "result")}


def warm_up() -> None:
    """Load the print fonts now, not at the first visitor's print, and freeze the start-up heap.

    The fonts' glyph tables are ~100,000 long-lived objects; without gc.freeze() every full
    collection scans them, which showed as render pauses of up to 1.5 s (bench/kiosk_flow.py).
    """
    from printing import fonts
    fonts.preload()
    gc.collect()
    gc.freeze()


class Hub:
    def __init__(self, config, devices: Devices | None = None, urls: dict[str, str] | None = None):
        self.config = config
        self.devices = devices or Devices(config)
        self.urls = urls or {}
        self.catalogue = get_catalogue()
        self.actor = f"kiosk:{config.kiosk.kiosk_id}"
        self.office_mode = bool(config.kiosk.office_server_url)
        limit = config.kiosk.idle_seconds + config.kiosk.idle_warning_seconds
        self.visits = VisitStore(limit + SERVER_GRACE_SECONDS, on_expire=self._expired)
        self.station: str | None = None        # the visit in front of the devices
        self.card_present: bool | None = None  # as the card monitor last reported (None: unknown)
        # A card still on the reader when a visit ended: the start screen asks for it to be handed in
        # (not a card that was there when the kiosk started: nobody has used the kiosk yet).
        self.card_left_behind = False
        self.camera_state: str | None = None
        self._cond = threading.Condition()
        self._events: deque[tuple[int, str | None, dict]] = deque(maxlen=EVENT_HISTORY)
        self._seq = 0
        self._streams: dict[str, int] = {}
        self._ended: OrderedDict[str, str] = OrderedDict()   # visit id → why it ended
        self._code_lock = threading.Lock()
        self.closing = False                   # the server is shutting down: event streams end
        self.scanner = None                     # set while the services run (inject() for demos)
        self.office = None
        if self.office_mode:
            from kiosk.office import OfficeClient
            self.office = OfficeClient(config)

    # --- database -------------------------------------------------------------------------
    def _db(self):
        return open_from_config(self.config)

    # --- visits ---------------------------------------------------------------------------
    def new_visit(self, previous_id: str | None = None) -> Visit:
        old = self.visits.get(previous_id)
        if old is not None:
            self.wipe(old, None)
        v = self.visits.new()
        self.station = v.id
        return v

    def visit(self, visit_id: str | None) -> Visit | None:
        v = self.visits.get(visit_id)
        if v is not None:
            self.station = v.id
        return v

    def station_visit(self) -> Visit | None:
        return self.visits.get(self.station)

    def ended_because(self, visit_id: str | None) -> str | None:
        return self._ended.get(visit_id or "")

    def wipe(self, visit: Visit, notice: str | None) -> None:
        """End a visit: drop everything personal and send its page back to the start."""
        if self.card_present and visit.path == "card":
            self.card_left_behind = True
        with visit.lock:
            self.visits.drop(visit.id)
            app = visit.application
            if app is not None and app.state == State.SUBMITTED and self.office is not None:
                # Never printed, but submitted: the office keeps it so a clerk can find it by number.
                self._hand_to_office(app, visit.exchanges)
            visit.finish()
            visit.next_steps = []
            visit.reception_number = None
        self._ended[visit.id] = notice or "ended"
        while len(self._ended) > 200:
            self._ended.popitem(last=False)
        self.publish(visit.id, {"type": "navigate", "url": self._start_url(notice)})
        with self._cond:
            self._streams.pop(visit.id, None)   # its event stream ends after this last event

    def wipe_all(self) -> None:
        """Another browser became the kiosk: no visit of the one before goes on."""
        for visit in self.visits.all():
            self.wipe(visit, None)

    def _expired(self, visit: Visit) -> None:
        self.wipe(visit, "idle_timeout")

    def _start_url(self, notice: str | None) -> str:
        base = self.urls.get("start", "/kiosk/")
        return f"{base}?notice={notice}" if notice else base

    # --- events for the page --------------------------------------------------------------
    def publish(self, visit_id: str | None, event: dict[str, Any]) -> int:
        with self._cond:
            self._seq += 1
            self._events.append((self._seq, visit_id, event))
            self._cond.notify_all()
            return self._seq

    def navigate(self, visit: Visit, name: str) -> None:
        self.publish(visit.id, {"type": "navigate", "url": self.urls.get(name, name)})

    @property
    def seq(self) -> int:
        return self._seq

    def open_stream(self, visit_id: str) -> int:
        """A new event stream for a visit; older streams of that visit end (page changed)."""
        with self._cond:
            gen = self._streams.get(visit_id, 0) + 1
            self._streams[visit_id] = gen
            self._cond.notify_all()
            return gen

    def supersede_streams(self, visit_id: str) -> None:
        """The visit's page changed: its open streams and long polls end."""
        with self._cond:
            self._streams[visit_id] = self._streams.get(visit_id, 0) + 1
            self._cond.notify_all()

    def current_stream(self, visit_id: str) -> int:
        return self._streams.get(visit_id, 0)

    def stream_current(self, visit_id: str, gen: int) -> bool:
        return self._streams.get(visit_id) == gen and not self.closing

    def wait_events(self, visit_id: str, since: int, timeout: float,
                    still_wanted: Callable[[], bool] = lambda: True) -> tuple[int, list[tuple[int, dict]]]:
        """Events for `visit_id` after `since`, waiting up to `timeout` seconds for one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if since > self._seq:  # the server restarted: everything is new
                since = 0
            while True:
                found = [(s, e) for s, vid, e in self._events if s > since and vid == visit_id]
                left = deadline - time.monotonic()
                if found or left <= 0 or self.closing or not still_wanted():
                    return self._seq, found
                self._cond.wait(min(left, 1.0))

    # --- the card path --------------------------------------------------------------------
    def on_card_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        v = self.station_visit()
        if kind == "inserted":
            self.card_present = True
            self.card_left_behind = False
            if v is not None and not v.finished and v.screen in ("start", "card_wait"):
                v.path, v.card_inserted, v.error = "card", True, None
                self.navigate(v, "card_pin")
        elif kind == "removed":
            self.card_present = False
            self.card_left_behind = False
            if v is None or v.finished or v.path != "card" or not (v.card_inserted or v.card):
                return
            with v.lock:
                if v.print.state in ("rendering", "printing"):
                    v.card_removed = True   # the job goes on; the visit ends with it
                    return
            self.wipe(v, "card_removed")

    def tries_left(self, visit: Visit) -> TriesLeft:
        """The card's PIN tries, without using one. Raises the reader's CardError."""
        t: TriesLeft = self.devices.reader().tries_left()
        visit.card_inserted, visit.path = True, "card"
        visit.tries, visit.card_kind = t.tries, t.card
        return t

    def read_card(self, visit: Visit, pin: str) -> None:
        """Read the card with the PIN the visitor typed; the PIN is passed on and dropped.

        Never uses the last try (the card would lock on a mistake); raises CardError."""
        reader = self.devices.reader()
        try:
            data: CardData = reader.read(pin, allow_last_try=False)
        except MadoguchiError as e:   # the reader's CardError
            metrics.count_card_read(visit.card_kind, e.code)
            raise
        finally:
            pin = None  # noqa: F841 — no reference to the PIN outlives the call
        metrics.count_card_read(data.card, "ok")
        kind, fields, gaiji = card_fields(data)
        with visit.lock:
            apply_card(visit, kind, fields, gaiji)
            visit.card.address_at_issue = data.address_at_issue
            visit.card.expiry = data.expiry.isoformat() if data.expiry else None
            visit.tries = data.tries_left
        card = visit.card
        self._log_exchange(visit, counterparty=card.counterparty, purpose="card_read", payload=fields,
                           name=fields.get("name"), birth_date=fields.get("birth_date"), fields=sorted(fields))

    # --- the QR path ----------------------------------------------------------------------
    def open_code(self, visit: Visit, text: str, db=None) -> str:
        """Open a scanned pre-registration code: the name of the screen to go to next.

        Raises MadoguchiError with the token's error code (the page shows its words)."""
        text = (text or "").strip()
        if parse_form_code(text):
            raise MadoguchiError("a printed form's code was scanned", code="form_code")
        own = db is None
        db = db or self._db()
        try:
            # Refused (already_used) when its forms were printed already, here or elsewhere: never twice.
            opened = open_preregistration(db, self.config, text, actor=self.actor)
            assert opened.form is not None and opened.logged is not None  # not open_existing: it was fetched
            with visit.lock:
                apply_prereg(visit, opened.app_id, opened.form, self.catalogue)
                record = recorded_guide(opened.guide, self.catalogue)
                if record:   # the resident's 手続きナビ answers come along, for the clerk
                    visit.life_event, visit.guide, visit.guided = record["life_event"], record["answers"], True
                visit.error = None
                visit.exchanges.append(_exchange_summary(opened.logged))
        finally:
            if own:
                db.conn.close()
        from kiosk.flow import next_field
        return "ask" if next_field(visit, self.catalogue) else "confirm"

    def on_scanner_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        v = self.station_visit()
        if kind == "camera":
            self.camera_state = event.get("state")
            if v is not None:
                self.publish(v.id, {"type": "camera", "state": self.camera_state})
            return
        if v is None or v.finished:
            return
        if kind == "hint" and v.screen == "qr_wait":
            self.publish(v.id, {"type": "hint", "hint": event.get("hint")})
        elif kind == "code" and v.screen in ("start", "qr_wait") and not v.has_personal_data:
            threading.Thread(target=self._scanned, args=(v, event.get("text", "")), daemon=True,
                             name="kiosk-code").start()

    def _scanned(self, v: Visit, text: str) -> None:
        if not self._code_lock.acquire(blocking=False):
            return  # one code at a time; the camera will see it again
        try:
            v.processing = True
            self.publish(v.id, {"type": "status", "status": "opening"})
            try:
                nxt = self.open_code(v, text)
            except MadoguchiError as e:
                v.path, v.error = "qr", e.code
                self.navigate(v, "qr")
                return
            except Exception as e:  # the type only: a message could carry the token or personal data
                log.error("opening a scanned code failed: %s", type(e).__name__)
                v.path, v.error = "qr", "error"
                self.navigate(v, "qr")
                return
            self.navigate(v, nxt)
        finally:
            v.processing = False
            self._code_lock.release()

    # --- the visitor's own exchange log ("who used my information") -------------------------
    def own_log(self, visit: Visit) -> list[dict[str, Any]]:
        """The exchange log of the person whose card this visit read (never anyone typed or
        named in a URL), oldest first; fetched and its showing logged once a visit. Raises
        MadoguchiError `own_log_needs_card` without a card read, and the office client's
        OfficeUnavailable on a kiosk PC whose office cannot be reached."""
        person = self._card_person(visit)
        with visit.lock:
            if visit.own_log is None:
                if self.office is not None:
                    visit.own_log, visit.own_log_head = self.office.own_log(*person)
                else:
                    db = self._db()
                    try:
                        visit.own_log = disclose_own_log(db, self.config, actor=self.actor, name=person[0],
                                                         birth_date=person[1])
                        visit.own_log_head = xlog.head(db)
                    finally:
                        db.conn.close()
            return visit.own_log

    def print_own_log(self, visit: Visit, pdf: bytes) -> None:
        """Print the visitor's own log on the kiosk's printer; handing it over is logged (log_print).
        Raises the printer's coded error (core.services.printing.print_log). A kiosk PC tells the
        office (its log is the one the person sees), and keeps its own entry if the office is down."""
        name, birth_date = self._card_person(visit)
        written: list[dict[str, Any]] = []
        db = self._db()
        try:
            print_log(db, self.config, actor=self.actor, printer=self.devices.printer(), pdf=pdf,
                      person=xlog.Person(name, birth_date), logged=written.append)
        finally:
            db.conn.close()
            if self.office is not None and written:
                self._tell_office_log_print(name, birth_date, written[0])

    def _tell_office_log_print(self, name: str, birth_date: str, entry: dict[str, Any]) -> None:
        """A kiosk PC's printed log goes into the office's log too (where the person looks next time)."""
        from kiosk.office import OfficeUnavailable
        try:
            self.office.report_log_print(name, birth_date, entry)
        except OfficeUnavailable as e:   # the kiosk PC's own log keeps it
            log.warning("the office was not told of a printed log: %s", e.code)

    @staticmethod
    def _card_person(visit: Visit) -> tuple[str, str]:
        card = visit.card
        name, birth_date = (card.fields.get("name"), card.fields.get("birth_date")) if card else (None, None)
        if not name or not birth_date:
            raise MadoguchiError("no card was read in this visit", code="own_log_needs_card")
        return name, str(birth_date)

    # --- exchange log ---------------------------------------------------------------------
    def _log_exchange(self, visit: Visit, *, counterparty: str, purpose: str, payload: Any,
                      name: str | None = None, birth_date: str | None = None, db=None,
                      result: str = "ok", fields: list[str] | None = None) -> None:
        own = db is None
        db = db or self._db()
        try:
            entry = xlog.append(db, self.config, actor=self.actor, counterparty=counterparty, purpose=purpose,
                                application_id=visit.application_id, payload=payload, result=result,
                                person=xlog.Person(name, birth_date), fields=fields)
        finally:
            if own:
                db.conn.close()
        visit.exchanges.append(_exchange_summary(entry))

    # --- printing ---------------------------------------------------------------------------
    def submit(self, visit: Visit, db) -> Application:
        """Make the application (draft → submitted) and take a reception number, once per visit."""
        with visit.lock:
            if visit.application is not None:
                return visit.application
            procs, values = validated_form(visit, self.catalogue)
            sources = {k: visit.sources.get(k, str(Source.TYPED)) for k in values}
            office = current_site().office_id(self.config.kiosk.office)
            app = Application.create(procs, values, Source.TYPED, actor=self.actor, channel="kiosk",
                                     sources=sources, application_id=visit.application_id, office=office)
            licence = licence_addresses(visit.card)
            if licence:
                app.note(self.actor, "card_read", new=licence)
            guide = guide_record(visit.life_event, guide_answers(visit, self.catalogue), self.catalogue)
            if guide:   # the clerk sees the guide's list with its reasons (counter detail page)
                app.note(self.actor, "guide", new=guide)
            app.transition(State.SUBMITTED, self.actor)
            with write(db):
                app.reception_number = reception.next_number(db, self.config.kiosk.reception_prefix, office=office)
                if not self.office_mode:
                    ApplicationStore(db).save(app)
            visit.application = app
            visit.application_id = app.id
            visit.reception_number = app.reception_number
            return app

    def start_print(self, visit: Visit) -> bool:
        """Print every form of the visit in one job, in the background. False if one is running."""
        with visit.lock:
            if visit.application is None or visit.print.state in ("rendering", "printing", "done"):
                return False
            visit.print = PrintStatus(state="rendering", attempts=visit.print.attempts + 1,
                                      started=time.monotonic())
        threading.Thread(target=self._print, args=(visit,), daemon=True, name="kiosk-print").start()
        return True

    def _print(self, visit: Visit) -> None:
        app = visit.application
        try:
            if visit.pdf is None:
                visit.pdf = self.devices.render(app.to_json_form(), app.id, slip=self.slip(visit, app))
            visit.print.state = "printing"
            self.publish(visit.id, {"type": "print", "state": "printing"})
            db = self._db()
            try:
                print_application(db, self.config, app, actor=self.actor, printer=self.devices.printer(),
                                  pdf=visit.pdf, save=not self.office_mode,
                                  logged=partial(self._print_logged, visit))
            finally:
                db.conn.close()
        except Exception as e:  # any failure leaves the application submitted and the visit intact
            code = e.code if isinstance(e, MadoguchiError) else "error"
            if not isinstance(e, MadoguchiError):
                log.error("printing failed: %s", type(e).__name__)
            with visit.lock:
                visit.print.state, visit.print.error = "failed", code
                visit.print.retryable = code in RETRYABLE_PRINT_ERRORS
            if visit.card_removed:
                self.wipe(visit, "card_removed")
                return
            self.publish(visit.id, {"type": "print", "state": "failed", "error": code})
            self.navigate(visit, "printing")
            return
        if self.office is not None:
            self.office.kick()
        with visit.lock:
            visit.print.state = "done"
            visit.finish()
        self.publish(visit.id, {"type": "print", "state": "done"})
        self.navigate(visit, "done")

    def slip(self, visit: Visit, app: Application) -> dict[str, str]:
        """The 受付票's values: the reception number, the procedures, the time, and the QR of the
        status page. The QR holds a status token (MDGS1) for a pre-registration too: under the key
        derived from the resident's, it opens the same page, but never the answers. A kiosk PC
        makes the key in its own database and uploads it with the application (kiosk.office)."""
        from core import progress
        from printing.render import reception_slip
        status_url = None
        base = self.config.prereg.public_url or visit.status_base
        if base:
            db = self._db()
            try:
                status_url = progress.status_url(base, progress.status_token(db, app.id))
            finally:
                db.conn.close()
        names = [self.catalogue.get(p).name("ja") for p in app.procedures if p in self.catalogue.procedures]
        return reception_slip(reception_number=app.reception_number, procedure_names=names,
                              printed_at=utcnow(), status_url=status_url)

    def _print_logged(self, visit: Visit, db, entry: dict[str, Any]) -> None:
        """The print's exchange-log entry (or its error's), in its transaction: a kiosk PC queues
        the printed application's upload with it. No visit.lock here: the database's write lock is
        held, and wipe() takes them the other way round (its upload, by application id, is replaced)."""
        exchanges = [*visit.exchanges, _exchange_summary(entry)]
        if self.office is not None and entry["result"] == "ok":
            self.office.enqueue(db, visit.application, exchanges)
        visit.exchanges[:] = exchanges

    def _hand_to_office(self, app: Application, exchanges: list[dict]) -> None:
        db = self._db()
        try:
            self.office.enqueue(db, app, exchanges)
        finally:
            db.conn.close()
        self.office.kick()

    # --- background services ----------------------------------------------------------------
    def start_services(self) -> Callable[[], None]:
        """Card monitor, camera scanner, idle sweeper (and the office uploader on a kiosk PC)."""
        warm_up()
        stop = threading.Event()
        stoppers: list[Callable[[], None]] = [stop.set]
        threads = [threading.Thread(target=self._sweep_loop, args=(stop,), daemon=True, name="kiosk-sweep")]
        try:
            monitor = self.devices.card_monitor()
        except MadoguchiError as e:
            log.warning("no card monitor: %s", e.code)
        else:
            stoppers.append(monitor.stop)
            threads.append(threading.Thread(target=self._pump, args=(monitor.events, self.on_card_event, stop),
                                            daemon=True, name="kiosk-cards"))
        try:
            scanner = self.devices.scanner()
        except MadoguchiError as e:
            log.warning("no camera scanner: %s", e.code)
            scanner = None
        if scanner is not None:
            self.scanner = scanner
            stoppers.append(scanner.stop)
            threads.append(threading.Thread(target=self._pump, args=(scanner.events, self.on_scanner_event, stop),
                                            daemon=True, name="kiosk-camera"))
        if self.office is not None:
            stoppers.append(self.office.start())
        for t in threads:
            t.start()

        def stop_all():
            with self._cond:
                self.closing = True
                self._cond.notify_all()
            for s in reversed(stoppers):
                try:
                    s()
                except Exception:
                    log.exception("stopping a kiosk service failed")
        return stop_all

    def _pump(self, events: queue.Queue, handle: Callable[[dict], None], stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ev = events.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                handle(ev)
            except Exception as e:  # the type only: an event can carry a token
                log.error("a device event could not be handled: %s", type(e).__name__)

    def _sweep_loop(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            self.visits.sweep()


__all__ = ["Hub", "CardRead"]
