"""``civicsight replay`` through the real tansu broker and stream worker: quality on the
public ``small`` scenario, bad input, and a worker killed (-9) in the middle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from civicsight.streams.mtmc_score import score
from civicsight.streams.offline import run_offline
from civicsight.streams.scenario import open_scenario, read_truth
from tests.support import mirror

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[4]


def small() -> Path:
    return mirror("CIVICSIGHT_MTMC_MIRROR", "mtmc") / "scenarios" / "small"


def env_for(kafka: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "CIVICSIGHT_KAFKA_BOOTSTRAP": kafka["bootstrap.servers"],
        "CIVICSIGHT_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


def predictions(path: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["local_track_id"]: r["global_track_id"] for r in rows}


def test_replay_small_through_the_broker(kafka: dict[str, str], tmp_path: Path) -> None:
    """Guards: the stream app's join losing quality against the offline join (ordering,
    late evidence, lost closures), tracklets without a prediction line, and the replay
    not reporting its speed."""
    out = tmp_path / "pred.jsonl"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "civicsight.streams.replay",
            str(small()),
            "--predictions",
            str(out),
        ],
        cwd=ROOT,
        env=env_for(kafka, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "events/s" in run.stdout
    scenario = open_scenario(small())
    assert scenario.truth_path is not None
    s = score(read_truth(scenario.truth_path), predictions(out))
    print(f"\nreplay small: {s}")
    assert s["tracklets_missed"] == 0
    assert s["IDF1"] >= 0.95


def test_bad_line_stops_the_replay_with_its_number(kafka: dict[str, str], tmp_path: Path) -> None:
    """Guards: a broken scenario half-published without saying where it broke."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cameras.json").write_text((small() / "cameras.json").read_text())
    (bad / "events.jsonl").write_text(
        '{"type": "detection", "camera_id": "cam-000", "ts": 1790000000.2, "frame_id": 1, '
        '"local_track_id": "cam-000/1", "cls": "car", "bbox": [1, 1, 5, 5], "conf": 0.9}\n'
        '{"type": "detection", "camera_id": "cam-000", "ts": 1790000000.4}\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "civicsight.streams.replay", str(bad), "--no-worker", "--wait", "1"],
        cwd=ROOT,
        env=env_for(kafka, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "events.jsonl:2:" in run.stderr and "'local_track_id'" in run.stderr


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "civicsight.streams.app"],
            cwd=ROOT,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_worker_killed_mid_replay_resumes_without_loss(
    kafka: dict[str, str], tmp_path: Path
) -> None:
    """Guards: join state lost with the worker (tracklets without ids, new ids for old
    tracks), inputs applied twice after redelivery, and a restart that stalls."""
    scenario = open_scenario(small())
    assert scenario.truth_path is not None
    truth = read_truth(scenario.truth_path)
    reference = score(truth, run_offline(scenario).assignment)

    env = env_for(
        kafka,
        tmp_path,
        CIVICSIGHT_STREAMS_APP_ID=f"crash-{uuid.uuid4().hex[:8]}",
        CIVICSIGHT_CAMERA_GRAPH=str(small() / "cameras.json"),
        CIVICSIGHT_JOIN_EMBEDDING_DIM="128",  # the scenario format's vectors
        CIVICSIGHT_LOG_LEVEL="WARNING",
    )
    out = tmp_path / "pred.jsonl"
    replay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "civicsight.streams.replay",
            str(small()),
            "--speed",
            "20",
            "--no-worker",
            "--predictions",
            str(out),
            "--wait",
            "180",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker = start_worker(env, tmp_path / "worker-1.log")
    try:
        time.sleep(18)  # about 6 of the scenario's 10 minutes are in
        assert worker.poll() is None, (tmp_path / "worker-1.log").read_text()[-3000:]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        worker = start_worker(env, tmp_path / "worker-2.log")
        output, _ = replay.communicate(timeout=400)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        if replay.poll() is None:
            replay.kill()
    print(output[-1500:])
    assert replay.returncode == 0, output[-3000:]
    s = score(truth, predictions(out))
    print(f"after kill -9: {s}\nuninterrupted (same join, no broker): {reference}")
    assert s["tracklets_missed"] == 0
    assert abs(s["IDF1"] - reference["IDF1"]) <= 0.01
