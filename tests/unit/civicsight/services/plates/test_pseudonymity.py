"""Plates in clear never reach traffic analytics: a planted plate, read by the real plates
service at two cameras and matched by the real indexer into a real SQLite store, appears
in no log line, no event but the investigators' ``plate_reads``, and no store row; the
day's key and the pseudonyms appear nowhere either; and two services (or one restarted)
give pseudonyms that cannot be linked."""

from __future__ import annotations

import hashlib
import logging
from contextlib import ExitStack
from pathlib import Path

import pytest

from civicsight.bus import Received
from civicsight.events import Event, PlateRead, PlateSighting
from civicsight.plate_text import skeleton
from civicsight.services.indexer.main import Indexer
from civicsight.services.indexer.settings import IndexerSettings
from civicsight.services.plates.main import Plates
from civicsight.services.plates.pipeline import PlateReader
from civicsight.services.plates.reading import TrackletReader
from civicsight.services.plates.settings import PlatesSettings
from civicsight.services.plates.voting import TrackletVotes
from civicsight.traffic import TrafficQuery
from tests.unit.civicsight.services.plates.conftest import crop_of, photo

PHOTO = "test_002"
T0 = 1_790_000_100.0


def plates_service(reader: PlateReader, tmp_path: Path, **settings: object) -> Plates:
    cameras = tmp_path / "cameras"
    cameras.mkdir(exist_ok=True)
    for cam in ("gate", "exit"):
        (cameras / f"{cam}.yaml").write_text(
            f"id: {cam}\nname: {cam}\nsource: rtsp://cam/{cam}\nanalytics: {{plates: true}}\n"
        )
    s = PlatesSettings(cameras_dir=cameras, data_dir=tmp_path / "data", **settings)  # type: ignore[arg-type]
    service = Plates(s)
    service.cameras = s.watch("plates")
    service.reading = TrackletReader(reader, TrackletVotes(min_gain=0.05), min_conf=0.3)
    return service


def drive(service: Plates, media: Path) -> list[tuple[str, str, Event]]:
    """The planted vehicle at the gate, then two minutes later at the exit."""
    events = []
    for i, (cam, track, at) in enumerate([("gate", 1, T0), ("exit", 7, T0 + 120)]):
        crop = crop_of(media, PHOTO, cam, track, at)
        events += service.handle([Received("crops", cam, crop, f"m{i}")]).events  # type: ignore[arg-type]
    return events


def test_a_planted_plate_reaches_no_log_no_analytics_event_and_no_store_row(
    reader: PlateReader,
    media_mirror: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Guards a plate (or its unkeyed hash, its skeleton, a pseudonym or the key) leaking
    into the analytics path: logs, the plate_sightings topic, the journey rows."""
    plate = photo(media_mirror, PHOTO)[2]
    caplog.set_level(logging.DEBUG)
    service = plates_service(reader, tmp_path)
    events = drive(service, media_mirror)
    reads = [e for t, _, e in events if t == "plate_reads"]
    seen = [e for t, _, e in events if t == "plate_sightings"]
    assert [r.text for r in reads if isinstance(r, PlateRead)] == [plate, plate]  # investigators
    assert len(seen) == 2 and all(isinstance(s, PlateSighting) for s in seen)
    keys = [service.keys._keys[d] for d in service.keys.days]  # the test peeks; nothing else can

    indexer = Indexer(IndexerSettings(data_dir=tmp_path / "data", plate_journey_lateness_s=0))
    with ExitStack() as resources:
        indexer.open(resources)
        indexer.handle(
            [Received("plate_sightings", s.pseudonym, s, f"s{i}") for i, s in enumerate(seen)]
        )  # type: ignore[arg-type, union-attr]
        indexer.every_poll(T0 + 10_000)
        rows = indexer.store.journeys(TrafficQuery(since=0, until=4e9))  # type: ignore[attr-defined]
        dump = "\n".join(indexer.store.db.iterdump())  # type: ignore[attr-defined]
    assert [(r.origin, r.destination, r.source, r.count, r.p50_s) for r in rows] == [
        ("gate", "exit", "plates", 1, 120.0)
    ]

    secrets = {
        plate,
        plate.lower(),
        skeleton(plate),
        hashlib.sha256(plate.encode()).hexdigest()[:16],
        *(k.hex() for k in keys),
        *(s.pseudonym for s in seen if isinstance(s, PlateSighting)),
    }
    logs = caplog.text + "".join(r.getMessage() for r in caplog.records)
    analytics = "".join(s.to_bytes().decode() + s.model_dump_json() for s in seen)
    for secret in secrets:
        assert secret not in logs
        assert secret not in dump
    for secret in secrets - {s.pseudonym for s in seen if isinstance(s, PlateSighting)}:
        assert secret not in analytics
    assert all(k not in analytics.encode() for k in keys)


def test_two_services_give_unlinkable_pseudonyms(
    reader: PlateReader, media_mirror: Path, tmp_path: Path
) -> None:
    """Guards keys shared between processes or surviving a restart: the same car read by
    two plates services (or one before and after a restart) must not link up."""
    first = [e for t, _, e in drive(plates_service(reader, tmp_path), media_mirror)]
    second = [e for t, _, e in drive(plates_service(reader, tmp_path), media_mirror)]
    p1 = {e.pseudonym for e in first if isinstance(e, PlateSighting)}
    p2 = {e.pseudonym for e in second if isinstance(e, PlateSighting)}
    assert len(p1) == len(p2) == 1 and not p1 & p2


def test_pseudonyms_can_be_turned_off(
    reader: PlateReader, media_mirror: Path, tmp_path: Path
) -> None:
    events = drive(plates_service(reader, tmp_path, plate_pseudonyms=False), media_mirror)
    assert {t for t, _, _ in events} == {"plate_reads"}
