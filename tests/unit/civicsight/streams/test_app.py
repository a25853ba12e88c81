"""The stream app without a broker: the Faust configuration ``StreamApp`` builds, its
lifecycle hooks, a batch that fails, and the worker's logging (nothing here connects)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import faust
import pytest
from faust.types import TP
from faust.types.tuples import Message

from civicsight.events import Box, FrameDetections
from civicsight.streams.app import StreamApp
from civicsight.streams.settings import StreamSettings

ROOT = Path(__file__).resolve().parents[4]
T0 = 1_700_000_000.0


@pytest.fixture
def stream_app(tmp_path: Path) -> StreamApp:
    return StreamApp(
        StreamSettings(streams_app_id="s-test", data_dir=tmp_path, cameras_dir=tmp_path / "cameras")
    )


def test_app_configuration(stream_app: StreamApp, tmp_path: Path) -> None:
    """Guards: the slow start on tansu (Faust's 60 s session: ~30 s before consuming),
    Faust creating the input topics, and state written into the working directory."""
    conf = stream_app.app.conf
    assert conf.broker_session_timeout == 6.0
    assert conf.broker_heartbeat_interval <= conf.broker_session_timeout / 3
    assert conf.web_enabled is False
    assert conf.topic_disable_leader is True
    assert str(conf.store) == "memory:"
    assert str(conf.datadir).startswith(str(tmp_path / "streams"))
    channels = {a.channel.topics: a.channel for a in stream_app.app.agents.values()}
    inputs = ("detections", "crops", "appearances", "plate_reads")
    assert not channels[inputs].internal  # never declared by Faust
    ticks = channels[("s-test-expiry-ticks",)]
    assert ticks.internal and ticks.partitions == 6  # co-partitioned with inputs
    join = channels[("s-test-join",)]
    assert join.internal and join.partitions == 1  # one join state: one global id per tracklet
    assert {t.name: t.partitions for t in stream_app.app.tables.values()} == {
        "tracklets": 6,
        "best-crops": 6,
        "join-log": 1,
        "traffic": 6,  # co-partitioned with the inputs: a camera's bins follow its frames
    }
    assert sorted(a.name for a in stream_app.app.agents.values()) == [
        "corrections",
        "expiry",
        "join",
        "tracklets",
    ]


@pytest.mark.parametrize(
    ("hook", "resets_join"),
    [
        ("revoked", True),  # the join partition may move: rebuild from the log on return
        ("assigned", False),
        ("error:join", True),  # the engine may hold inputs it never logged
        ("error:tracklets", False),
    ],
)
def test_lifecycle_hooks(stream_app: StreamApp, hook: str, resets_join: bool) -> None:
    """Guards a worker that keeps a join engine the log no longer explains: after the
    join partition moved (another worker decided meanwhile) or after a failed join
    batch, its decisions would differ from a restarted worker's."""
    stream_app.join.apply([])  # the engine is built
    assert stream_app.join.engine is not None
    tps = {TP("detections", 0), TP("s-test-join", 0)}
    app = stream_app.app
    if hook == "revoked":
        asyncio.run(app.on_partitions_revoked.send(tps))  # as Faust signals it
    elif hook == "assigned":
        asyncio.run(app.on_partitions_assigned.send(tps))
    else:
        stream_app.on_processing_error(hook.split(":")[1], "s-test-join[0]@5-9", KeyError("x"))
        assert stream_app.errors == 1
    assert (stream_app.join.engine is None) is resets_join


def frame(camera: str, t: float) -> bytes:
    box = Box(x1=10, y1=10, x2=20, y2=20, cls="car", conf=0.9, track_id=1)
    return FrameDetections(
        camera_id=camera,
        seq=0,
        captured_at=t,
        width=100,
        height=100,
        model="m",
        boxes=(box,),
        detected_at=t,
    ).to_bytes()


def event(app: faust.App, topic: str, offset: int, value: bytes) -> faust.Event:
    message = Message(topic, 0, offset, T0, 0, {}, b"cam-a", value, None)
    return faust.Event(app, b"cam-a", value, {}, message)


def test_a_failed_batch_leaves_the_tables_as_they_were(stream_app: StreamApp) -> None:
    """Guards a batch that fails half-way (here: an event of a topic the app does not
    read) leaving the processor in batch mode with its changes buffered, to be written
    with a later batch after its closures were lost."""
    app = stream_app.app
    batch = [event(app, "detections", i, frame("cam-a", T0 + 0.1 * i)) for i in range(3)]
    batch.append(event(app, "bogus", 0, b"x"))
    with pytest.raises(KeyError, match="bogus"):
        asyncio.run(stream_app.handle(batch))
    assert stream_app.processor.state("cam-a") is None  # nothing reached the table
    assert stream_app.processor.take() == []
    with stream_app.processor.batch():  # and the processor is out of its failed batch
        pass
    assert stream_app.processor.state("cam-a") is None  # which wrote nothing later either


SECRETS = """
import logging
from civicsight.streams.app import StreamApp, worker
from civicsight.streams.settings import StreamSettings

w = worker(StreamApp(StreamSettings()))
w._setup_logging()  # what mode's Worker does first when it starts
logging.getLogger("aiokafka").error("Unable connect to %s", "kafka://svc:s3cret-pw@kafka:9093")
logging.getLogger("faust").warning("header Authorization: Bearer tok.s3cret-pw")
logging.getLogger("civicsight.streams.app").error("token cs_s3cret-pw-abcdef in a message")
print("printed rtsp://cam:s3cret-pw@10.0.0.5/stream?token=s3cret-pw")
"""


def test_the_worker_logs_like_the_hub_with_secrets_redacted(tmp_path: Path) -> None:
    """Guards the stream worker being the one process without log redaction: Faust set
    up its own handlers, so a password in a URL, a bearer token or an API token in any
    record (aiokafka's, Faust's, ours, or a print Faust sends to the log) was written as
    it came."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CIVICSIGHT_DATA_DIR": str(tmp_path),
        "CIVICSIGHT_CAMERAS_DIR": str(tmp_path / "cameras"),
    }
    run = subprocess.run(
        [sys.executable, "-c", SECRETS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = run.stdout + run.stderr
    assert "s3cret-pw" not in out
    assert "ERROR aiokafka: Unable connect to kafka://***@kafka:9093" in run.stderr
    for redacted in ("Bearer ***", "cs_***", "rtsp://***@10.0.0.5/stream?token=***"):
        assert redacted in out
