"""`madoguchi scan`: decode the QR codes in pictures and videos, or watch the camera.

    madoguchi scan form.png clip.avi      one line FILE<TAB>TEXT per code; exit 1 when none
    madoguchi scan printed.pdf            every page (rasterised with poppler's pdftoppm)
    madoguchi scan --camera --seconds 20  the configured camera: codes as they are shown
"""
from __future__ import annotations

import queue
import sys
import time
from pathlib import Path

import click

# OpenCV and zxing are imported when a scan runs, so `madoguchi --help` stays quick.


def _one_line(text: str) -> str:
    """Keep each code on one output line, whatever characters it holds."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _frames(path: Path):
    """Yield (name shown, frame) for an image, a video, or the images of a folder."""
    from hardware.camera.frames import IMAGE_SUFFIXES, CameraError, ImageFolder, VideoFile

    if path.is_dir():
        for image in sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            yield from _frames(image)
        return
    if not path.exists():
        raise CameraError(f"{path}: no such file", "not_found")
    if path.suffix.lower() == ".pdf":
        yield from _pdf_pages(path)
        return
    if path.suffix.lower() in IMAGE_SUFFIXES:
        source = ImageFolder(path)
    else:
        source = VideoFile(path)
    source.open()
    try:
        while (frame := source.read()) is not None:
            yield str(path), frame
    finally:
        source.close()


def _pdf_pages(path: Path, dpi: int = 200):
    """Yield (name shown, page image) for each page of a PDF, as a 200 dpi scan would see it."""
    import shutil
    import subprocess
    import tempfile

    import cv2

    from hardware.camera.frames import CameraError

    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise CameraError(f"{path}: reading PDFs needs pdftoppm (Debian package poppler-utils)", "unsupported")
    with tempfile.TemporaryDirectory(prefix="madoguchi-scan-") as tmp:
        done = subprocess.run([pdftoppm, "-r", str(dpi), "-gray", "-png", str(path), f"{tmp}/page"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise CameraError(f"{path}: not a readable PDF", "unreadable")
        for page in sorted(Path(tmp).glob("page*.png")):
            yield str(path), cv2.imread(str(page), cv2.IMREAD_GRAYSCALE)


def scan_files(paths, decoder, echo=click.echo, warn=None) -> int:
    """Print FILE<TAB>TEXT for each distinct code of each file; return how many were printed."""
    from hardware.camera.frames import CameraError
    from hardware.camera.scanner import Scanner

    warn = warn or (lambda message: click.echo(message, err=True))
    printed = 0
    for path in paths:
        seen: dict[str, set[str]] = {}
        unreadable: set[str] = set()
        reader = Scanner(None, decoder=decoder)  # one per file: a video's frames are read together
        try:
            for name, frame in _frames(Path(path)):
                codes = seen.setdefault(name, set())
                result, texts = reader.read_frame(frame)
                for text in texts:
                    if text not in codes:
                        codes.add(text)
                        echo(f"{name}\t{_one_line(text)}")
                        printed += 1
                if result.hint and not texts:
                    unreadable.add(name)
        except CameraError as e:
            warn(f"Error: {e}")
            continue
        if not seen and Path(path).is_dir():
            warn(f"{path}: no images")
        for name in sorted(unreadable):
            if not seen.get(name):
                warn(f"{name}: a QR code is in view but could not be read (a closer or sharper picture may help)")
    return printed


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--camera", "use_camera", is_flag=True,
              help="Watch the camera of [devices].camera instead, printing codes as they are shown.")
@click.option("--seconds", type=float, default=None, help="With --camera: stop after this many seconds.")
@click.option("--snapshot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --camera: save the first frame to this image file (to aim the camera).")
@click.pass_context
def scan(ctx, files, use_camera, seconds, snapshot):
    """Decode QR codes in images, videos, PDFs and folders of images.

    Prints one line per code found, FILE<TAB>TEXT (each code once per file), and exits 1
    when no code was found at all.
    """
    if use_camera:
        if files:
            raise click.UsageError("give files or --camera, not both")
        found = _watch_camera(ctx.obj.config, seconds, snapshot)
    else:
        if not files:
            raise click.UsageError("give at least one image, video or folder (or --camera)")
        from hardware.camera.decode import QrDecoder
        found = scan_files(files, QrDecoder())
    sys.exit(0 if found else 1)


def _watch_camera(config, seconds, snapshot) -> int:
    import cv2

    from hardware.camera.frames import source_from_config
    from hardware.camera.scanner import Scanner

    source = source_from_config(config)
    if source is None:
        raise click.ClickException('no camera configured ([devices].camera = "none")')
    if snapshot:
        source.open()
        try:
            frame = source.read()
        finally:
            source.close()
        if frame is None or not cv2.imwrite(str(snapshot), frame):
            raise click.ClickException(f"cannot save a frame to {snapshot}")
        click.echo(f"saved a {frame.shape[1]}x{frame.shape[0]} frame to {snapshot}", err=True)
    found = 0
    deadline = time.monotonic() + seconds if seconds else None
    scanner = Scanner(source, dedupe_seconds=config.devices.camera_dedupe_seconds).start()
    try:
        while deadline is None or time.monotonic() < deadline:
            try:
                event = scanner.events.get(timeout=0.2)
            except queue.Empty:
                if not scanner.running:
                    break
                continue
            if event["type"] == "code":
                click.echo(f"{source.name}\t{_one_line(event['text'])}")
                found += 1
            elif event["type"] == "hint":
                click.echo("a QR code is in view but cannot be read: hold it closer", err=True)
            elif event["type"] == "camera":
                click.echo(f"{source.name}: {event['state']}", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        scanner.stop()
    return found
