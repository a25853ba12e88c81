"""``civicsight bench uploads --json``: how fast the API refuses hostile uploads, and
whether it keeps answering meanwhile.

The API runs as the service runs it (real app, real re-ID models, uvicorn on loopback).
Each case is sent ``--rounds`` times; a second client polls ``/api/health`` every 20 ms
during each upload. Reported per case: the median and worst answer time of the upload
and the worst health answer time seen during the uploads. Cases:

- ``bomb_30000``: a valid PNG of 30000x30000 flat pixels (under 1 MB), refused by header;
- ``bomb_50000_1bit``: a 1-bit PNG of 50000x50000 pixels;
- ``gif_as_jpeg``: a GIF sent as image/jpeg (typed by content);
- ``chunked_100mb_no_token``: a chunked 100 MB upload without credentials (the answer
  time after its first chunk);
- ``valid_4096``: a valid 4096x4096 PNG that is decoded and searched (the work the API
  does do, off the event loop).
"""

from __future__ import annotations

import argparse
import functools
import socket
import statistics
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np

from civicsight.bench.output import emit

WHY = {"case": "BENCH-1", "purpose": "upload benchmark"}


def flat_png(width: int, height: int, bit_depth: int = 8) -> bytes:
    """A real, valid PNG of one flat colour: tiny on disk, huge once decoded (the tests'
    decompression bombs come from here too)."""
    row = b"\x00" * (1 + (width * bit_depth + 7) // 8)
    packer = zlib.compressobj(9)
    parts = [packer.compress(row * 1000) for _ in range(height // 1000)]
    parts += [packer.compress(row * (height % 1000)), packer.flush()]

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def post_image(base: str, token: str, data: bytes, content_type: str) -> int:
    resp = httpx.post(
        base + "/api/search/image",
        headers={"Authorization": f"Bearer {token}"},
        files={"image": ("x", data, content_type)},
        data={"cls": "person", "k": "5", **WHY},
        timeout=120,
    )
    return resp.status_code


def chunked_without_token(base: str) -> int:
    host, port = base.removeprefix("http://").split(":")
    head = (
        "POST /api/search/image HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
        answer = sock.recv(64)
    return int(answer.split()[1])


def measure(base: str, send: Callable[[], int], rounds: int) -> dict[str, object]:
    times: list[float] = []
    statuses: set[int] = set()
    health: list[float] = []

    def poll(done: threading.Event) -> None:
        with httpx.Client(base_url=base) as c:
            while not done.is_set():
                t = time.perf_counter()
                c.get("/api/health")
                health.append(time.perf_counter() - t)
                done.wait(0.02)

    send()  # warm-up, not counted
    for _ in range(rounds):
        done = threading.Event()
        poller = threading.Thread(target=poll, args=(done,))
        poller.start()
        t0 = time.perf_counter()
        statuses.add(send())
        times.append(time.perf_counter() - t0)
        done.set()
        poller.join()
    return {
        "status": sorted(statuses),
        "answer_s_median": round(statistics.median(times), 4),
        "answer_s_max": round(max(times), 4),
        "health_s_max_during": round(max(health), 4) if health else None,
        "health_polls": len(health),
    }


def run(rounds: int, model_mirror: Path | None) -> dict[str, object]:
    from civicsight.audit import AuditLog
    from civicsight.auth import Role, TokenStore
    from civicsight.bench.output import cpu_name
    from civicsight.models.appearance import AppearanceSettings
    from civicsight.services.api.app import create_app
    from civicsight.services.api.embedder import ReidImageEmbedder
    from civicsight.services.api.server import api_server
    from civicsight.services.api.state import ApiState
    from civicsight.stack import free_port
    from civicsight.store.sqlite import SqliteTrackStore

    folder = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    store, tokens, trail = (
        SqliteTrackStore(folder / "t.db"),
        TokenStore(folder / "a.db"),
        AuditLog(folder),
    )
    for part in (store, tokens, trail):
        part.open()
    embedder = ReidImageEmbedder(AppearanceSettings(model_mirror=model_mirror))
    token = tokens.issue(Role.INVESTIGATOR, "bench")
    app = create_app(ApiState(store=store, tokens=tokens, audit=trail, embedder=embedder))
    port = free_port()
    server = api_server(app, "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    big = np.full((4096, 4096, 3), 90, np.uint8)
    big[::7] = 200
    uploads = {
        "bomb_30000": (flat_png(30_000, 30_000), "image/png"),
        "bomb_50000_1bit": (flat_png(50_000, 50_000, 1), "image/png"),
        "gif_as_jpeg": (cv2.imencode(".gif", np.zeros((64, 64, 3), np.uint8))[1].tobytes(),
                        "image/jpeg"),
        "valid_4096": (cv2.imencode(".png", big)[1].tobytes(), "image/png"),
    }  # fmt: skip
    cases: dict[str, Callable[[], int]] = {
        name: functools.partial(post_image, base, token, data, kind)
        for name, (data, kind) in uploads.items()
    }
    cases["chunked_100mb_no_token"] = functools.partial(chunked_without_token, base)
    try:
        results = {name: measure(base, send, rounds) for name, send in cases.items()}
    finally:
        server.should_exit = True
        thread.join(10)
        embedder.close()
        for part in (store, tokens, trail):
            part.close()
    return {"benchmark": "uploads", "cpu": cpu_name(), "rounds": rounds, "cases": results}


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(prog="civicsight bench uploads", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    mirror = os.environ.get("CIVICSIGHT_MODEL_MIRROR")
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(4096 * 4096))
    emit(run(args.rounds, Path(mirror) if mirror else None), args.json, args.out)


if __name__ == "__main__":
    main()
