"""The traffic routes (``/api/traffic/*``) over a demo-like day: the documented columns in
JSON and CSV, one audit entry per request, whole settled bins only, filters that pick
rows out of the protected bins, and the role check before anything else. FastAPI's
TestClient over a real SQLite store holding the day (``tests.traffic_data.fill``: the
bins as the indexer writes them, journeys and OD from the join's tracks)."""

from __future__ import annotations

import calendar
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.dashboards.queries import Target
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.traffic import BIN_S, CameraBin, CountBin, TrafficRow
from civicsight.traffic_tables import COLUMNS, TABLES
from tests.traffic_data import cameras, demo_day, fill
from tests.unit.civicsight.dashboards.test_traffic import INFINITY_TARGETS

DAY = time.time() // 86_400 * 86_400 - 2 * 86_400  # every bin of it settled
WHOLE_DAY = {"since": DAY, "until": DAY + 86_400}
STATUSES = {"ok", "suppressed", "camera_down"}


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def hub(tmp_path: Path, tokens: TokenStore, trail: AuditLog, rows: list[TrafficRow]) -> TestClient:
    store = SqliteTrackStore(tmp_path / "tracks.db")
    if rows:
        fill(store, rows)
    state = ApiState(store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(cameras()))
    return TestClient(create_app(state))


@pytest.fixture
def client(tmp_path: Path, tokens: TokenStore, trail: AuditLog) -> Iterator[TestClient]:
    token = tokens.issue(Role.TRAFFIC_ANALYST, "ana")
    with hub(tmp_path, tokens, trail, demo_day(DAY)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


@pytest.mark.parametrize("name", TABLES)
def test_every_table_answers_its_documented_columns(client: TestClient, name: str) -> None:
    """Guards the shape the Grafana dashboards and the page read: the keys, the columns
    in order, ISO times, k, the count of rows with withheld values, and null exactly
    where a value is withheld or unknown."""
    resp = client.get(f"/api/traffic/{name}", params=WHOLE_DAY)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"columns", "rows", "k", "suppressed", "bin_minutes", "since", "until"}
    assert body["columns"] == list(COLUMNS[name])
    assert (body["since"], body["until"]) == (iso(DAY), iso(DAY + 86_400))
    assert body["k"] == (10 if name in ("od", "journeys") else 5) and body["bin_minutes"] == 15
    rows = body["rows"]
    assert rows and all(list(r) == body["columns"] for r in rows)
    assert {r["bin_start"] for r in rows} == {iso(DAY + n * BIN_S) for n in range(96)}
    assert {r["status"] for r in rows} == STATUSES
    assert body["suppressed"] == sum(r["status"] == "suppressed" for r in rows) > 0
    first = "count" if "count" in body["columns"] else "entries"
    for r in rows:
        assert (r[first] is None) == (r["status"] != "ok") or name in ("zones",), r
        if r[first] is not None:  # cells and totals alike
            assert r[first] == 0 or r[first] >= body["k"], r


@pytest.mark.parametrize("name", TABLES)
def test_csv_is_the_same_table(client: TestClient, name: str) -> None:
    """Guards a CSV export that differs from what the JSON says (columns, order, nulls)."""
    params = {**WHOLE_DAY, "camera": "junction" if name != "od" else "street"}
    body = client.get(f"/api/traffic/{name}", params=params).json()
    resp = client.get(f"/api/traffic/{name}", params={**params, "format": "csv"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert f'filename="traffic-{name}-' in resp.headers["content-disposition"]
    parsed = list(csv.DictReader(io.StringIO(resp.text)))
    assert resp.text.splitlines()[0] == ",".join(COLUMNS[name])
    as_text = [{k: "" if v is None else str(v) for k, v in r.items()} for r in body["rows"]]
    assert parsed == as_text


def test_each_read_is_one_audit_entry_with_table_window_and_filters(
    client: TestClient, trail: AuditLog
) -> None:
    """Guards unaudited reads of the traffic tables (every API read by a signed-in user is
    recorded)."""
    client.get("/api/traffic/od", params={**WHOLE_DAY, "camera": "street", "cls": "car"})
    client.get("/api/traffic/counts", params={**WHOLE_DAY, "format": "csv"})
    entries = trail.entries()
    assert [(e.actor, e.role, e.action) for e in entries] == [
        ("ana", "traffic_analyst", "traffic.read")
    ] * 2
    first, second = (e.details for e in entries)
    assert first["table"] == "od" and first["camera"] == "street" and first["cls"] == "car"
    assert (first["since"], first["until"]) == (DAY, DAY + 86_400)
    assert second["table"] == "counts" and second["format"] == "csv" and second["rows"] > 0


@pytest.mark.parametrize("name", TABLES)
def test_filters_pick_rows_out_of_the_protected_bins(client: TestClient, name: str) -> None:
    """Guards protection that depends on what was asked: a filtered answer is exactly the
    matching rows of the unfiltered one, values and statuses alike."""
    everything = client.get(f"/api/traffic/{name}", params=WHOLE_DAY).json()["rows"]
    for camera, cls in (("junction", None), (None, "person"), ("walkway", "person")):
        params = {**WHOLE_DAY, **({"camera": camera} if camera else {}),
                  **({"cls": cls} if cls else {})}  # fmt: skip
        picked = client.get(f"/api/traffic/{name}", params=params).json()["rows"]
        ends = ("origin", "destination") if name in ("od", "journeys") else ("camera",)
        assert picked == [
            r for r in everything
            if (camera is None or camera in [r[e] for e in ends])
            and (cls is None or r["class"] == cls)
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"until": DAY}, "until must be after since"),
        ({"until": DAY - 60}, "until must be after since"),
        ({"since": DAY - 40 * 86_400}, "at most 31 days"),
        ({"until": "inf"}, "until"),
        ({"until": "1e309"}, "until"),
        ({"since": "nan"}, "since"),
        ({"since": "-5"}, "since"),
        ({"cls": "horse"}, "cls"),
        ({"camera": "../etc"}, "camera"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_requests_are_400(client: TestClient, params: dict[str, Any], needle: str) -> None:
    resp = client.get("/api/traffic/counts", params={**WHOLE_DAY, **params})
    assert resp.status_code == 400 and needle in resp.json()["detail"], resp.text


def test_the_role_is_checked_before_the_parameters(
    client: TestClient, tokens: TokenStore, trail: AuditLog
) -> None:
    """Guards a 400 telling a role that may not read traffic tables what they accept."""
    ines = {"Authorization": f"Bearer {tokens.issue(Role.INVESTIGATOR, 'ines')}"}
    for params in ({"since": "nan"}, {"format": "xml"}, {}):
        resp = client.get("/api/traffic/zones", params=params, headers=ines)
        assert resp.status_code == 403, resp.text
    del client.headers["Authorization"]
    assert client.get("/api/traffic/zones", params=WHOLE_DAY).status_code == 401
    assert trail.entries() == []


def test_the_running_bin_is_not_published(client: TestClient) -> None:
    """Guards polling the current bin: its count would grow vehicle by vehicle."""
    now = time.time()
    body = client.get("/api/traffic/counts", params={"since": now - 3 * 3600}).json()
    until = calendar.timegm(time.strptime(body["until"], "%Y-%m-%dT%H:%M:%SZ"))
    assert until <= now - 120 and until % 900 == 0


def test_moving_until_in_10_s_steps_recovers_nothing_finer_than_a_bin(
    tmp_path: Path, tokens: TokenStore, trail: AuditLog
) -> None:
    """The outside probe's differencing attack, replayed on the new route: ``until``
    moved in 10 s steps across the minutes after seven night cars crossed (from 01:00).
    Every answer covers whole bins that ended before ``until``, so all 31 answers are
    the same, and the cars' bin appears whole once it is over."""
    night = DAY + 3600
    rows: list[TrafficRow] = [CameraBin(camera="street", bin_start=DAY + n * BIN_S, up=True)
                              for n in range(8)]  # fmt: skip
    rows.append(CountBin(camera="street", rule="midblock", direction="northbound", cls="car",
                         bin_start=night, count=7))  # fmt: skip
    token = tokens.issue(Role.TRAFFIC_ANALYST, "probe")
    with hub(tmp_path, tokens, trail, rows) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        answers = set()
        for step in range(31):
            params = {"since": DAY, "until": night + 10 * step, "camera": "street"}
            answers.add(c.get("/api/traffic/counts", params=params).text)
        assert len(answers) == 1
        later = c.get("/api/traffic/counts", params={"since": DAY, "until": night + BIN_S + 300})
        cars = [r for r in later.json()["rows"] if r["bin_start"] == iso(night)]
        assert {(r["direction"], r["class"], r["count"]) for r in cars} >= {
            ("northbound", "car", 7)
        }


def test_empty_camera_and_class_mean_all(client: TestClient) -> None:
    """Guards a 400 on every Grafana panel whose camera or class box is left empty (it
    sends ``camera=&cls=``)."""
    empty = client.get("/api/traffic/counts", params={**WHOLE_DAY, "camera": "", "cls": ""})
    assert empty.status_code == 200, empty.text
    assert empty.json() == client.get("/api/traffic/counts", params=WHOLE_DAY).json()
    bad = client.get("/api/traffic/counts", params={**WHOLE_DAY, "camera": "Not A Slug"})
    assert bad.status_code == 400


GRAFANA = {
    "${__from:date:seconds}": str(int(DAY)),
    "${__to:date:seconds}": str(int(DAY + 86_400)),
    "$camera": "",
    "$cls": "",
}
"""What Grafana puts in for the dashboard's variables: the time range and empty boxes."""


@pytest.mark.parametrize("target", INFINITY_TARGETS, ids=lambda t: t.panel)
def test_every_dashboard_query_of_the_api_answers_rows(client: TestClient, target: Target) -> None:
    """The Traffic dashboards' Infinity queries (no Grafana runs here: the query is
    sent as Grafana sends it, its variables put in) against the real routes over a real
    store. Guards a panel that the API refuses (wrong time format, an empty box) or that
    gets no rows or other columns than it reads."""
    query = target.query
    params = {p["key"]: GRAFANA.get(p["value"], p["value"]) for p in query["url_options"]["params"]}
    resp = client.get(query["url"], params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body[query["root_selector"]], "no rows"
    assert [c["selector"] for c in query["columns"]] == body["columns"]
