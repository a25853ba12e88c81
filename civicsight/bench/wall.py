"""``civicsight bench wall --tiles 16 --fps 2 --seconds 600 --json``: a control-room wall
against the real API, and what it costs everyone else.

- The embedded tansu broker, and the API as the hub runs it (``python -m
  services.api.main``, its own process, live feed on).
- ``--tiles`` synthetic cameras publish real frames (cut from the sample videos, JPEG) with
  their detections at ``--camera-fps`` each, through the broker, as ingest and detect do.
- One control-room WebSocket watches every tile at ``--fps`` (the wall's rate); the
  frames it receives are counted per tile.
- Meanwhile a second client keeps asking the API other things (cameras, a track search,
  health, a rule-hit poll) and times each answer.

The first ``--baseline-s`` seconds run without the wall: the same requests' latency then
is the baseline of this run. Reported: p50 / p95 / p99 of the other requests with and
without the wall, the frames per second each tile received, and the API process's CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

from civicsight.bench.output import emit

VIDEOS = ("car-detection.mp4", "one-by-one-person-detection.mp4")
REPO = Path(__file__).resolve().parents[2]


def sample_frames(media: Path, count: int = 60, width: int = 768) -> list[tuple[bytes, int, int]]:
    """JPEG frames cut from the sample videos, scaled to ``width``."""
    out: list[tuple[bytes, int, int]] = []
    for name in VIDEOS:
        cap = cv2.VideoCapture(str(media / name))
        n = 0
        while len(out) < count * (VIDEOS.index(name) + 1):
            ok, image = cap.read()
            if not ok:
                break
            n += 1
            if n % 3:
                continue
            h, w = image.shape[:2]
            image = cv2.resize(image, (width, round(h * width / w)))
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            out.append((jpeg.tobytes(), image.shape[1], image.shape[0]))
        cap.release()
    if not out:
        raise SystemExit(f"no frames in {media}: set CIVICSIGHT_MEDIA_MIRROR")
    return out


def publish_cameras(
    kafka: dict[str, str], tiles: int, fps: float, frames: list[tuple[bytes, int, int]],
    stop: threading.Event,
) -> None:  # fmt: skip
    from civicsight.bus import KafkaPublisher
    from civicsight.events import Box, Frame, FrameDetections

    pub = KafkaPublisher(kafka, "bench-wall")
    seq = 0
    rng = np.random.default_rng(1)
    while not stop.is_set():
        t0 = time.monotonic()
        now = time.time()
        for cam in range(tiles):
            jpeg, w, h = frames[(seq + cam * 7) % len(frames)]
            cam_id = f"wall-{cam:02d}"
            pub.publish("frames", cam_id, Frame(camera_id=cam_id, seq=seq, captured_at=now,
                                                width=w, height=h, jpeg=jpeg))  # fmt: skip
            boxes = []
            for k in range(3):
                x, y = rng.uniform(0, w - 120), rng.uniform(0, h - 160)
                boxes.append(Box(x1=x, y1=y, x2=x + 100, y2=y + 150, cls="person", conf=0.8,
                                 track_id=k + 1))  # fmt: skip
            pub.publish(
                "detections",
                cam_id,
                FrameDetections(camera_id=cam_id, seq=seq, captured_at=now, width=w, height=h,
                                model="bench", boxes=tuple(boxes), detected_at=now),
            )  # fmt: skip
        pub.flush(10)
        seq += 1
        stop.wait(max(0.0, 1.0 / fps - (time.monotonic() - t0)))
    pub.close()


def watch_wall(
    url: str, token: str, tiles: int, fps: float, counts: dict[str, int], stop: threading.Event
) -> None:
    from websockets.sync.client import connect

    with connect(url) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        ws.send(json.dumps({"type": "watch",
                            "cameras": {f"wall-{c:02d}": fps for c in range(tiles)}}))  # fmt: skip
        while not stop.is_set():
            try:
                raw = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            if isinstance(raw, bytes):
                (n,) = struct.unpack(">I", raw[:4])
                cam = json.loads(raw[4 : 4 + n])["camera_id"]
                counts[cam] = counts.get(cam, 0) + 1


def probe(base: str, token: str, stop: threading.Event, into: list[float]) -> None:
    paths = [
        "/api/cameras",
        "/api/tracks?limit=20&case=BENCH-1&purpose=wall+benchmark",
        "/api/health",
        "/api/events/rule-hits?after=0",
    ]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        n = 0
        while not stop.is_set():
            t = time.perf_counter()
            c.get(paths[n % len(paths)], timeout=30).raise_for_status()
            into.append(time.perf_counter() - t)
            n += 1
            stop.wait(0.1)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.array(values) * 1000, q)), 1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace) -> dict[str, object]:
    from civicsight.auth import Role, TokenStore
    from civicsight.bench.output import cpu_name
    from civicsight.bus import ensure_topics
    from civicsight.stack import EmbeddedBroker, free_port, wait_for_port

    media = Path(os.environ.get("CIVICSIGHT_MEDIA_MIRROR", REPO.parent / "shared" / "media"))
    frames = sample_frames(media)
    data = Path(tempfile.mkdtemp(prefix="bench-wall-"))
    cams = data / "cameras"
    cams.mkdir()
    for c in range(args.tiles):
        (cams / f"wall-{c:02d}.yaml").write_text(
            f"id: wall-{c:02d}\nname: Wall {c + 1}\nsource: media:car-detection.mp4\n"
            f"fps: {args.camera_fps}\nposition: {{x_m: {(c % 4) * 200}, y_m: {(c // 4) * 150}}}\n"
        )
    tokens = TokenStore(data / "auth.db")
    tokens.open()
    token = tokens.issue(Role.INVESTIGATOR, "bench wall")
    tokens.close()
    port = free_port()
    with EmbeddedBroker(log_file=data / "broker.log") as broker:
        kafka = {"bootstrap.servers": broker.bootstrap}
        ensure_topics(kafka)
        env = {
            **os.environ,
            "CIVICSIGHT_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CIVICSIGHT_DATA_DIR": str(data),
            "CIVICSIGHT_CAMERAS_DIR": str(cams),
            "CIVICSIGHT_API_PORT": str(port),
            "CIVICSIGHT_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
        }
        api = subprocess.Popen([sys.executable, "-m", "civicsight.services.api.main"], env=env)
        stop = threading.Event()
        try:
            wait_for_port("127.0.0.1", port, 60)
            base = f"http://127.0.0.1:{port}"
            publisher = threading.Thread(
                target=publish_cameras, args=(kafka, args.tiles, args.camera_fps, frames, stop)
            )
            publisher.start()
            time.sleep(5)  # the live feed joins its group and frames flow
            baseline: list[float] = []
            probe_stop = threading.Event()
            prober = threading.Thread(target=probe, args=(base, token, probe_stop, baseline))
            cpu0, t0 = cpu_seconds(api.pid), time.monotonic()
            prober.start()
            time.sleep(args.baseline_s)
            probe_stop.set()
            prober.join()
            cpu_base = (cpu_seconds(api.pid) - cpu0) / (time.monotonic() - t0)

            counts: dict[str, int] = {}
            loaded: list[float] = []
            wall_stop, probe_stop = threading.Event(), threading.Event()
            ws_url = f"ws://127.0.0.1:{port}/api/live/ws"
            wall = threading.Thread(
                target=watch_wall, args=(ws_url, token, args.tiles, args.fps, counts, wall_stop)
            )
            wall.start()
            time.sleep(3)  # the wall's first frames
            counts.clear()
            cpu0, t0 = cpu_seconds(api.pid), time.monotonic()
            prober = threading.Thread(target=probe, args=(base, token, probe_stop, loaded))
            prober.start()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - t0
            cpu_wall = (cpu_seconds(api.pid) - cpu0) / elapsed
            probe_stop.set()
            wall_stop.set()
            prober.join()
            wall.join()
        finally:
            stop.set()
            api.terminate()
            api.wait(20)
    rates = [counts.get(f"wall-{c:02d}", 0) / elapsed for c in range(args.tiles)]
    return {
        "benchmark": "wall",
        "cpu": cpu_name(),
        "tiles": args.tiles,
        "wall_fps": args.fps,
        "camera_fps": args.camera_fps,
        "seconds": round(elapsed, 1),
        "baseline_s": args.baseline_s,
        "other_requests": {
            "baseline": {
                "count": len(baseline),
                "p50_ms": pct(baseline, 50),
                "p95_ms": pct(baseline, 95),
                "p99_ms": pct(baseline, 99),
            },
            "with_wall": {
                "count": len(loaded),
                "p50_ms": pct(loaded, 50),
                "p95_ms": pct(loaded, 95),
                "p99_ms": pct(loaded, 99),
            },
        },
        "tile_fps": {
            "median": round(statistics.median(rates), 2),
            "min": round(min(rates), 2),
            "max": round(max(rates), 2),
        },
        "frames_received": sum(counts.values()),
        "api_cpu_cores": {"baseline": round(cpu_base, 2), "with_wall": round(cpu_wall, 2)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="civicsight bench wall", description=__doc__)
    parser.add_argument("--tiles", type=int, default=16)
    parser.add_argument("--fps", type=float, default=2.0, help="the wall's rate per tile")
    parser.add_argument("--camera-fps", type=float, default=5.0, help="each camera's own rate")
    parser.add_argument("--seconds", type=float, default=600.0, help="measured with the wall")
    parser.add_argument("--baseline-s", type=float, default=30.0, help="measured without it")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    emit(run(args), args.json, args.out)


if __name__ == "__main__":
    main()
