"""Camera QR scanning: decoding real-looking frames, the scanner thread, `madoguchi scan`."""
from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from core.application import form_code, new_application_id
from core.tokens import KEY_BYTES, encode_token
from hardware.camera import testmedia
from hardware.camera.decode import HINT_CLOSER, QrDecoder, decode_frame
from hardware.camera.frames import CameraError, DeviceCamera, ImageFolder, VideoFile, VirtualCamera, source_for_setting
from hardware.camera.scanner import Scanner, open_scanner
from tests.helpers import madoguchi

# 60 QR-alphanumeric characters (decode tests are tuned to this pattern)
TOKEN = "7%DZBAKDRXF4.CQ%JA+*R22U0MDQ.PN6FU-U1 L05S+ZV6BICW9 KSC*G0ZK"
FORM = form_code("M106C18SWTQR7NTY")
# A real pre-registration token: its check characters let one engine's read be accepted.
PREREG = encode_token("7K3M9Q2XR4TBW8HE", np.random.default_rng(2024).bytes(KEY_BYTES))


@pytest.fixture(scope="module")
def camera_output(output_dir):
    folder = output_dir / "camera"
    folder.mkdir(exist_ok=True)
    return folder


def next_event(scanner, kind, timeout=10.0):
    """The next event of `kind`, skipping others; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {kind} event within {timeout} s (camera {scanner.camera_state})")
        try:
            event = scanner.events.get(timeout=left)
        except queue.Empty:
            continue
        if event["type"] == kind:
            return event


def drain(scanner):
    events = []
    while True:
        try:
            events.append(scanner.events.get_nowait())
        except queue.Empty:
            return events


# --- decoding ---------------------------------------------------------------------------------

def test_sample_payloads_are_realistic():
    from core.tokens import decode_token
    token = testmedia.sample_token()
    assert decode_token(token)[0] and set(token) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    code = testmedia.sample_form_code()
    assert code.startswith("MDGF1:") and len(code) == 22


@pytest.mark.parametrize("text", [TOKEN, FORM])
def test_clean_phone_frame_decodes(text):
    frame = testmedia.render(text)
    assert frame.shape == (720, 1280, 3)
    result = decode_frame(frame)
    assert result.texts == (text,)
    assert result.unreadable == 0 and result.hint is None and result.retry is None


def test_greyscale_and_bgra_frames_decode():
    frame = testmedia.render(FORM)
    assert decode_frame(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)).texts == (FORM,)
    assert decode_frame(cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)).texts == (FORM,)


def test_idle_frames_have_no_code_and_no_hint():
    for seed in range(4):
        result = decode_frame(testmedia.idle_frame(seed))
        assert result.texts == () and result.unreadable == 0 and result.hint is None


def test_two_codes_in_one_frame_both_decode():
    background = testmedia.render(TOKEN, testmedia.Shot(center=(360, 360), qr_width=140))
    frame = testmedia.render(FORM, testmedia.Shot(center=(960, 360), qr_width=140), background=background)
    assert set(decode_frame(frame).texts) == {TOKEN, FORM}


def test_only_qr_codes_are_read():
    # A Data Matrix and a Code 128 in view are ignored: only QR codes carry madoguchi payloads.
    import zxingcpp
    frame = testmedia.idle_frame(1)
    for fmt, x, scale in ((zxingcpp.BarcodeFormat.DataMatrix, 100, 6), (zxingcpp.BarcodeFormat.Code128, 450, 3)):
        barcode = zxingcpp.create_barcode("MDGF1:NOTAQRCODE000", fmt)
        img = np.array(zxingcpp.write_barcode_to_image(barcode, scale=scale), dtype=np.uint8)
        assert zxingcpp.read_barcodes(img), "the other symbology itself is readable"
        if img.ndim == 3:
            img = img[..., 0]
        h, w = img.shape
        frame[200:200 + h, x:x + w] = img[..., None]
    assert decode_frame(frame).texts == ()


MILD = [(kind, level) for kind, shots in testmedia.DEGRADATIONS.items() for level in range(min(2, len(shots)))]


@pytest.mark.parametrize("kind,level", MILD, ids=[f"{k}-{lvl}" for k, lvl in MILD])
def test_mild_degradations_decode(kind, level, camera_output):
    shot = testmedia.DEGRADATIONS[kind][level]
    frame = testmedia.render(TOKEN, shot, seed=level)
    cv2.imwrite(str(camera_output / f"degraded_{kind}_{level}.jpg"), frame)
    assert decode_frame(frame).texts == (TOKEN,), f"{kind} level {level} did not decode"


def test_retries_rescue_a_code_found_but_not_decoded():
    """Soft focus near the edge: zxing locates the code, its first pass fails the checksum,
    and one of the cheap retries on the crop reads it (a token: its own check accepts one read)."""
    first_pass_only = QrDecoder(retries=False, hard_light=False)
    rescued = []
    for blur in (2.6, 2.8, 3.0, 3.2, 3.4):
        for seed in range(3):
            frame = testmedia.render(PREREG, testmedia.Shot(blur=blur, center=(560 + 60 * seed, 380)), seed=seed)
            plain = first_pass_only.decode(frame)
            if plain.texts or not plain.unreadable:
                continue  # read at once, or not even located: not the case under test
            assert plain.hint == HINT_CLOSER
            full = decode_frame(frame)
            if full.texts:
                assert full.texts == (PREREG,) and full.retry is not None and full.hint is None
                rescued.append((blur, seed, full.retry))
    assert rescued, "no frame of the sweep needed and got a retry"


def test_located_but_unreadable_code_asks_to_hold_it_closer():
    # The finder patterns are intact but the data modules are scribbled over: zxing finds the
    # code, every retry fails the checksum, and the visitor is asked to hold it closer.
    code = testmedia.qr_image(TOKEN, module_px=6)
    n = code.shape[0]
    rng = np.random.default_rng(3)
    quiet, finder = 4 * 6, 9 * 6
    inner = code[quiet + finder:n - quiet - finder, quiet + finder:n - quiet - finder]
    inner[:] = np.where(rng.random(inner.shape) < 0.5, 0, 255)
    frame = testmedia.idle_frame(2)
    frame[150:150 + n, 500:500 + n] = code[..., None]
    result = decode_frame(frame)
    assert result.texts == ()
    assert result.unreadable == 1 and result.hint == HINT_CLOSER
    x, y, w, h = result.regions[0]
    assert 480 < x < 560 and 130 < y < 210 and w > 100 and h > 100


def test_strong_glare_over_the_code_asks_to_hold_it_closer():
    frame = testmedia.render(TOKEN, testmedia.Shot(glare=1.0, glare_offset=(0.0, 0.0)))
    result = decode_frame(frame)
    assert result.texts == () and result.hint == HINT_CLOSER


# --- sources ----------------------------------------------------------------------------------

def test_source_for_setting(tmp_path):
    (tmp_path / "frames").mkdir()
    assert source_for_setting("none") is None
    assert source_for_setting("None") is None
    assert isinstance(source_for_setting(0), DeviceCamera) and source_for_setting(0).device == 0
    assert source_for_setting("2").device == 2
    assert source_for_setting("/dev/video4").device == "/dev/video4"
    assert source_for_setting("rtsp://192.0.2.10/stream").is_stream
    # A camera's password never reaches a log line or the status page.
    assert source_for_setting("rtsp://admin:s3cret@192.0.2.10:554/live").name == "camera rtsp://192.0.2.10:554/live"
    folder = source_for_setting("frames", tmp_path)
    assert isinstance(folder, ImageFolder) and folder.path == tmp_path / "frames" and folder.loop
    video = source_for_setting("clip.avi", tmp_path)
    assert isinstance(video, VideoFile) and video.loop and video.realtime
    one_shot = source_for_setting(str(tmp_path / "clip.mp4"), live=False)
    assert isinstance(one_shot, VideoFile) and not one_shot.loop and not one_shot.realtime
    assert isinstance(source_for_setting("code.png", tmp_path), ImageFolder)
    with pytest.raises(CameraError):
        source_for_setting(True)


def test_absent_camera_device_raises_camera_error():
    camera = DeviceCamera("/dev/video-madoguchi-absent")
    with pytest.raises(CameraError) as err:
        camera.open()
    assert err.value.code == "camera_unavailable"
    camera.close()


def test_image_folder_reads_in_name_order_and_loops(tmp_path):
    texts = [form_code(new_application_id()) for _ in range(3)]
    for name, text in zip(("b.png", "a.jpg", "c.png"), texts, strict=True):
        cv2.imwrite(str(tmp_path / name), testmedia.qr_image(text, module_px=4))
    (tmp_path / "notes.txt").write_text("not an image")
    once = ImageFolder(tmp_path)
    once.open()
    read = []
    while (frame := once.read()) is not None:
        read.append(decode_frame(frame).texts[0])
    assert read == [texts[1], texts[0], texts[2]]

    looping = ImageFolder(tmp_path, loop=True)
    looping.open()
    assert ([decode_frame(looping.read()).texts[0] for _ in range(5)]
            == [texts[1], texts[0], texts[2], texts[1], texts[0]])
    shutil.rmtree(tmp_path)
    with pytest.raises(CameraError):
        for _ in range(3):
            looping.read()


def test_video_file_source_reads_every_frame_and_loops(tmp_path):
    path = testmedia.make_phone_video(tmp_path / "phone.avi", FORM, seconds=1.0, fps=10, idle_seconds=0.3)
    video = VideoFile(path)
    video.open()
    frames = []
    while (frame := video.read()) is not None:
        frames.append(frame)
    video.close()
    assert len(frames) == 10 and frames[0].shape == (720, 1280, 3)
    assert decode_frame(frames[0]).texts == ()    # nobody holds anything up yet
    assert decode_frame(frames[-1]).texts == (FORM,)
    looping = VideoFile(path, loop=True)
    looping.open()
    assert all(looping.read() is not None for _ in range(25))
    looping.close()
    with pytest.raises(CameraError):
        VideoFile(tmp_path / "absent.avi").open()


def test_make_phone_video_writes_mp4_and_refuses_unknown_types(tmp_path):
    path = testmedia.make_phone_video(tmp_path / "sub" / "phone.mp4", TOKEN, seconds=1.0, fps=10)
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    capture.release()
    with pytest.raises(ValueError):
        testmedia.make_phone_video(tmp_path / "phone.gif", TOKEN)


# --- the scanner ------------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_dedupe_window_slides_while_the_code_stays_in_view():
    clock = FakeClock()
    scanner = Scanner(None, dedupe_seconds=5.0, clock=clock)
    assert scanner.inject(FORM) is True
    for _ in range(4):  # held up for 12 s, seen every 3 s: handed over once
        clock.now += 3
        assert scanner.inject(FORM) is False
    assert scanner.inject(TOKEN) is True  # another code is new
    clock.now += 5.1  # out of view long enough: the same code counts again
    assert scanner.inject(FORM) is True
    clock.now += 1
    scanner.forget(FORM)  # e.g. the kiosk session ended
    assert scanner.inject(FORM) is True
    clock.now += 1
    assert scanner.inject(FORM, dedupe=False) is True
    events = drain(scanner)
    assert [e["text"] for e in events] == [FORM, TOKEN, FORM, FORM, FORM]
    assert all(e["type"] == "code" and isinstance(e["at"], float) for e in events)


def test_scanner_without_camera_runs_no_thread_but_accepts_injected_codes(config):
    scanner = open_scanner(config)  # the embedded default: camera = "none"
    assert scanner.camera_state == "none" and not scanner.running
    assert scanner.inject(TOKEN)
    assert scanner.events.get_nowait() == {"type": "code", "text": TOKEN, "at": pytest.approx(time.time(), abs=5)}
    assert scanner.stop() is True


def test_scanner_hands_over_a_code_shown_for_many_frames_once():
    camera = VirtualCamera(fps=60)
    with Scanner(camera, dedupe_seconds=5.0) as scanner:
        assert next_event(scanner, "camera")["state"] == "ok"
        camera.show_code(TOKEN)
        assert next_event(scanner, "code")["text"] == TOKEN
        frames_then = scanner.frames
        while scanner.frames < frames_then + 20:  # the code stays in view for 20 more frames
            time.sleep(0.02)
        camera.show_code(FORM, testmedia.Shot(roll=20))
        assert next_event(scanner, "code")["text"] == FORM
        assert all(e["type"] != "code" for e in drain(scanner))
        assert scanner.status()["decode_ms"] > 0


def test_scanner_hints_closer_at_most_once_per_interval():
    camera = VirtualCamera(fps=60)
    camera.show_code(TOKEN, testmedia.Shot(glare=1.0, glare_offset=(0.0, 0.0)))
    with Scanner(camera, hint_interval=30.0) as scanner:
        assert next_event(scanner, "hint")["hint"] == "closer"
        start = scanner.frames
        while scanner.frames < start + 10:
            time.sleep(0.02)
        assert [e for e in drain(scanner) if e["type"] == "hint"] == []


def test_no_hint_right_after_a_code_was_read():
    camera = VirtualCamera(fps=60)
    camera.show_code(TOKEN)
    with Scanner(camera, hint_interval=30.0) as scanner:
        assert next_event(scanner, "code")["text"] == TOKEN
        # The phone is lowered: for a while the code is in view but unreadable.
        camera.show_code(TOKEN, testmedia.Shot(glare=1.0, glare_offset=(0.0, 0.0)))
        start = scanner.frames
        while scanner.frames < start + 10:
            time.sleep(0.02)
        assert [e for e in drain(scanner) if e["type"] == "hint"] == []


def test_scanner_survives_a_folder_camera_removed_and_recreated(tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    first, second = form_code(new_application_id()), form_code(new_application_id())
    testmedia.write_images(folder, [testmedia.render(first)])
    source = ImageFolder(folder, loop=True, fps=30)
    with Scanner(source, backoff_initial=0.05, backoff_max=0.2) as scanner:
        assert next_event(scanner, "camera")["state"] == "ok"
        assert next_event(scanner, "code")["text"] == first
        shutil.rmtree(folder)
        assert next_event(scanner, "camera")["state"] == "lost"
        time.sleep(0.3)  # a few reconnect attempts fail meanwhile
        staging = tmp_path / "staging"
        testmedia.write_images(staging, [testmedia.render(second, seed=3)])
        staging.rename(folder)
        assert next_event(scanner, "camera")["state"] == "ok"
        assert next_event(scanner, "code")["text"] == second
        assert scanner.reconnects >= 2
        assert scanner.running


class FlakySource:
    """A FrameSource that fails the way drivers do: an unexpected exception mid-stream, then
    refusing to open twice, then working again."""

    name = "flaky"

    def __init__(self, frame):
        self.frame = frame
        self.opens = 0
        self.reads = 0
        self.closed = 0

    def open(self):
        self.opens += 1
        if self.opens in (2, 3):
            raise CameraError("not there", "camera_unavailable")

    def read(self):
        self.reads += 1
        if self.reads == 3:
            raise RuntimeError("driver hiccup")
        time.sleep(0.01)
        return self.frame

    def close(self):
        self.closed += 1


def test_scanner_survives_a_source_that_raises(caplog):
    source = FlakySource(testmedia.render(FORM))
    with Scanner(source, dedupe_seconds=0.0, backoff_initial=0.01, backoff_max=0.05) as scanner:
        states = [next_event(scanner, "camera")["state"] for _ in range(3)]
        assert states == ["ok", "lost", "ok"]
        assert next_event(scanner, "code")["text"] == FORM
    assert source.opens == 4 and source.closed >= 4
    # The code text is a secret (a token holds its key): it never reaches the log.
    assert FORM not in caplog.text and "driver hiccup" in caplog.text


def test_scanner_survives_a_camera_unplugged_and_plugged_back():
    camera = VirtualCamera(fps=60)
    camera.show_code(FORM)
    with Scanner(camera, dedupe_seconds=0.5, backoff_initial=0.05, backoff_max=0.1) as scanner:
        assert next_event(scanner, "code")["text"] == FORM
        camera.unplug()
        assert next_event(scanner, "camera")["state"] == "lost"
        time.sleep(0.6)  # longer than the dedupe window
        camera.plug()
        assert next_event(scanner, "camera")["state"] == "ok"
        assert next_event(scanner, "code")["text"] == FORM


def test_scanner_reports_a_finite_source_that_ended(tmp_path):
    testmedia.write_images(tmp_path, [testmedia.render(FORM)])
    scanner = Scanner(ImageFolder(tmp_path)).start()
    assert next_event(scanner, "code")["text"] == FORM
    assert next_event(scanner, "camera")["state"] == "ended"
    scanner._thread.join(5)
    assert not scanner.running
    assert scanner.stop() is True


def test_stop_joins_promptly_while_reading_and_while_waiting_to_reconnect():
    camera = VirtualCamera(fps=30)
    scanner = Scanner(camera).start()
    next_event(scanner, "camera")
    thread = scanner._thread
    started = time.monotonic()
    assert scanner.stop(timeout=5) is True
    assert not thread.is_alive() and time.monotonic() - started < 1.0
    assert scanner.stop() is True  # twice is fine

    camera.unplug()
    scanner = Scanner(camera, backoff_initial=30, backoff_max=30).start()
    assert next_event(scanner, "camera")["state"] == "lost"  # now waiting 30 s to retry
    started = time.monotonic()
    assert scanner.stop(timeout=5) is True
    assert time.monotonic() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name == "madoguchi-scanner"]


def test_events_queue_drops_oldest_when_nobody_listens():
    scanner = Scanner(None, events=queue.Queue(3), dedupe_seconds=0)
    for i in range(5):
        scanner.inject(f"CODE{i}")
    assert [e["text"] for e in drain(scanner)] == ["CODE2", "CODE3", "CODE4"]


def test_open_scanner_plays_a_configured_phone_video(config, tmp_path):
    video = testmedia.make_phone_video(tmp_path / "phone.avi", TOKEN, seconds=1.5, fps=15)
    cfg = config.replace({"devices": {"camera": "phone.avi", "camera_dedupe_seconds": 60.0}})
    scanner = open_scanner(cfg)
    try:
        assert isinstance(scanner.source, VideoFile) and scanner.source.path == video
        assert next_event(scanner, "code")["text"] == TOKEN
        time.sleep(1.8)  # the video loops: the same code again, within the dedupe window
        assert [e for e in drain(scanner) if e["type"] == "code"] == []
    finally:
        assert scanner.stop()


# --- madoguchi scan ---------------------------------------------------------------------------

def test_scan_command_prints_file_tab_text(tmp_path):
    image = tmp_path / "form.png"
    cv2.imwrite(str(image), testmedia.render(FORM))
    video = testmedia.make_phone_video(tmp_path / "phone.avi", TOKEN, seconds=1.2, fps=10)
    folder = tmp_path / "shots"
    testmedia.write_images(folder, [testmedia.idle_frame(), testmedia.render(FORM, seed=2)], ext=".jpg")
    result = madoguchi("scan", str(image), str(video), str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{image}\t{FORM}",
        f"{video}\t{TOKEN}",  # seen in many frames, printed once
        f"{folder / 'frame0001.jpg'}\t{FORM}",
    ]


def test_scan_command_exits_1_when_no_code_is_found(tmp_path):
    idle = tmp_path / "idle.png"
    cv2.imwrite(str(idle), testmedia.idle_frame())
    result = madoguchi("scan", str(idle))
    assert result.returncode == 1 and result.stdout == ""

    result = madoguchi("scan", str(tmp_path / "absent.png"))
    assert result.returncode == 1 and "absent.png: no such file" in result.stderr

    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    result = madoguchi("scan", str(notes), str(idle))
    assert result.returncode == 1 and "notes.txt" in result.stderr and "Traceback" not in result.stderr


def test_scan_command_says_when_a_code_is_seen_but_unreadable(tmp_path):
    glare = tmp_path / "glare.png"
    cv2.imwrite(str(glare), testmedia.render(TOKEN, testmedia.Shot(glare=1.0, glare_offset=(0.0, 0.0))))
    result = madoguchi("scan", str(glare))
    assert result.returncode == 1
    assert "glare.png: a QR code is in view but could not be read" in result.stderr


def test_scan_command_keeps_each_code_on_one_line(tmp_path):
    image = tmp_path / "lines.png"
    cv2.imwrite(str(image), testmedia.qr_image("first line\nsecond\tcolumn", module_px=6))
    result = madoguchi("scan", str(image))
    assert result.returncode == 0
    assert result.stdout == f"{image}\tfirst line\\nsecond\\tcolumn\n"


def test_scan_command_watches_the_configured_camera(config_file, tmp_path):
    testmedia.write_images(tmp_path / "cam", [testmedia.idle_frame(), testmedia.render(FORM)])
    text = config_file.read_text().replace("[devices]", '[devices]\ncamera = "cam"', 1)
    config_file.write_text(text)
    snapshot = tmp_path / "aim.jpg"
    result = madoguchi("scan", "--camera", "--seconds", "1.5", "--snapshot", str(snapshot),
                       config_file=config_file, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"images cam\t{FORM}\n"  # shown again as the folder loops: once
    assert cv2.imread(str(snapshot)).shape == (720, 1280, 3)
    assert "images cam: ok" in result.stderr


def test_scan_command_reads_every_page_of_a_pdf(tmp_path):
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    codes = [form_code(new_application_id()) for _ in range(2)]
    pdf = tmp_path / "printed.pdf"
    page = canvas.Canvas(str(pdf), pagesize=A4)
    for code in codes:  # a 20 mm code at the top right of each page, as on a printed form
        png = tmp_path / "code.png"
        cv2.imwrite(str(png), testmedia.qr_image(code, module_px=10))
        page.drawString(20 * mm, 270 * mm, "Application form")
        page.drawImage(ImageReader(str(png)), 170 * mm, 257 * mm, 24 * mm, 24 * mm)
        page.showPage()
    page.save()
    result = madoguchi("scan", str(pdf))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{pdf}\t{codes[0]}", f"{pdf}\t{codes[1]}"]


def test_scan_command_needs_files_or_camera():
    result = madoguchi("scan")
    assert result.returncode == 2 and "at least one" in result.stderr


def test_core_and_cli_help_do_not_import_opencv():
    code = ("import sys, core.cli, core.config, core.application, core.forms\n"
            "from click.testing import CliRunner\n"
            "CliRunner().invoke(core.cli.main, ['--help'])\n"
            "assert 'cv2' not in sys.modules, 'cv2 imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
