"""``civicsight traffic export|report``: the same tables as the API (CSV and typed Parquet),
a self-contained HTML report, clear refusals of bad input, and an audit entry per run.
The tables' own tests read the rows from ``RowsSource`` (rows in memory, exactly as
given); the command's run reads them from a real SQLite store in the hub's data folder."""

from __future__ import annotations

import csv
import getpass
import io
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from civicsight import cli
from civicsight.audit import AuditLog
from civicsight.disclosure import Window
from civicsight.resources import data_path
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.tools import traffic
from civicsight.tools.traffic import UsageError, main, run, tables_of, window_of
from civicsight.traffic_tables import COLUMNS, TABLES, Thresholds, iso, publish, to_csv, to_json
from tests.support import RowsSource
from tests.traffic_data import cameras, demo_day, fill

DAY = time.time() // 86_400 * 86_400 - 2 * 86_400
WINDOW = Window(DAY, DAY + 86_400, 900)


@pytest.mark.parametrize(
    ("since", "until", "problem"),
    [
        (DAY, DAY, "after --since"),
        (DAY, DAY - 1, "after --since"),
        (DAY - 400 * 86_400, DAY, "at most 366 days"),
        (-60, 3600, "no whole, settled"),  # the running bin (seconds from now)
    ],
)
def test_bad_windows_are_refused_in_words(since: float, until: float, problem: str) -> None:
    now = time.time()
    if since < 0:
        since, until = now + since, now + until
    with pytest.raises(UsageError, match=problem):
        window_of(since, until, now)


def test_a_window_is_cut_to_whole_settled_bins() -> None:
    """Guards an export that differs from the API's answer for the same window."""
    window = window_of(DAY + 437, DAY + 3 * 3600 + 61, time.time())
    assert (window.start, window.end) == (DAY, DAY + 3 * 3600)


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["export", "--since", "yesterday", "--until", "0", "--out", "x"], "ISO date"),
        (["export", "--since", "2026-13-01", "--until", "0", "--out", "x"], "ISO date"),
        (["report", "--until", "0", "--out", "x"], "--since"),
        (["export", "--since", "0", "--until", "1", "--out", "x", "--tables", "horses"],
         "choose from"),
        (["export", "--since", "2026-01-02", "--until", "2026-01-01", "--out", "x"],
         "after --since"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2_with_a_reason(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("CIVICSIGHT_DATA_DIR", str(tmp_path))
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own refusals
        code = int(stop.code or 0)
    assert code == 2 and problem in capsys.readouterr().err
    assert not (tmp_path / "audit.db").exists()


@pytest.mark.parametrize(("value", "ok"), [("4", False), ("0", False), ("5", True), ("8", True)])
def test_the_threshold_may_be_raised_never_lowered(
    value: str, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards a hub configured to publish counts of 1 to 4."""
    monkeypatch.setenv("CIVICSIGHT_TRAFFIC_K", value)
    if ok:
        assert traffic.TrafficToolSettings().thresholds().k == int(value)
    else:
        with pytest.raises(ValueError, match="traffic_k"):
            traffic.TrafficToolSettings()


def test_export_writes_the_apis_tables_as_csv_and_typed_parquet(tmp_path: Path) -> None:
    """Guards an export that publishes more (or other numbers) than the API: every file
    holds exactly the rows ``publish`` gives the API, with the documented columns."""
    source = RowsSource(demo_day(DAY))
    recorded: list[dict[str, Any]] = []
    said = run("export", source, cameras(), WINDOW, Thresholds(), tmp_path, recorded.append)
    assert "wrote 12 files" in said
    api = publish(source, cameras(), WINDOW, Thresholds())
    for name in TABLES:
        assert (tmp_path / f"{name}.csv").read_text() == to_csv(api[name])
        parquet = pq.read_table(tmp_path / f"{name}.parquet")
        assert parquet.column_names == list(COLUMNS[name])
        when = parquet.schema.field("bin_start").type
        assert pa.types.is_timestamp(when) and when.tz == "UTC"
        meta = parquet.schema.metadata
        assert meta[b"civicsight.k"] == str(api[name].k).encode()
        rows = parquet.to_pylist()
        expected = to_json(api[name])["rows"]
        assert len(rows) == len(expected)
        for got, want in zip(rows, expected, strict=True):
            assert iso(got.pop("bin_start").timestamp()) == want.pop("bin_start")
            assert got == want
    (details,) = recorded
    assert details["kind"] == "tables" and details["since"] == DAY and details["rows"] > 0


def test_export_of_some_tables(tmp_path: Path) -> None:
    run("export", RowsSource(demo_day(DAY)), cameras(), WINDOW, Thresholds(), tmp_path,
        lambda _: None, tables_of("od, zones"))  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "od.csv",
        "od.parquet",
        "zones.csv",
        "zones.parquet",
    ]


def test_the_report_is_one_self_contained_document(tmp_path: Path) -> None:
    """Guards a report that loads anything from elsewhere (it is mailed and archived) or
    leaves out how its numbers were protected."""
    out = tmp_path / "report.html"
    run("report", RowsSource(demo_day(DAY)), cameras(), WINDOW, Thresholds(), out,
        lambda _: None)  # fmt: skip
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|url\((?!#)", page, re.I)
    links = re.findall(r'href="([^"]*)"', page)  # within the SVGs, or the heat map's pixels
    assert links and all(h.startswith(("#", "data:image/png;base64,")) for h in links)
    for words in ("Volumes by hour and class", "Origin-destination", "Journey times",
                  "Methods", "below 5", "below 10", "Secondary suppression",
                  "rows hold withheld values", "the box spans"):  # fmt: skip
        assert words in page, words
    withheld = sum(t.suppressed for t in publish(RowsSource(demo_day(DAY)), cameras(), WINDOW,
                                                 Thresholds()).values())  # fmt: skip
    assert f"<strong>{withheld}</strong> rows hold withheld values" in page


def test_a_run_is_audited_under_the_os_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guards traffic data leaving the hub unrecorded (the command line has no login:
    the OS user is the actor, as for every command)."""
    monkeypatch.setenv("CIVICSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CIVICSIGHT_CAMERAS_DIR", str(data_path("demo_cameras")))

    (tmp_path / "data").mkdir()
    store = SqliteTrackStore(tmp_path / "data" / "tracks.db")
    fill(store, demo_day(DAY))
    store.close()
    out = tmp_path / "export"
    assert main(["export", "--since", iso(DAY), "--until", str(DAY + 7200), "--out", str(out),
                 "--tables", "counts"]) == 0  # fmt: skip
    assert "wrote 2 files" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO((out / "counts.csv").read_text())))
    assert {r["bin_start"] for r in rows} == {iso(DAY + n * 900) for n in range(8)}
    with AuditLog(tmp_path / "data") as audit:
        (entry,) = audit.entries()
    assert (entry.actor, entry.role, entry.action) == (getpass.getuser(), "local", "traffic.export")
    assert entry.details["tables"] == ["counts"] and entry.details["until"] == DAY + 7200


def test_the_command_runs_the_tool_with_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards ``civicsight traffic ...`` not reaching the tool (or losing its subcommand)."""
    called: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(cli, "cmd_tool", lambda module, rest: called.append((module, rest)) or 0)
    argv = ["traffic", "report", "--since", "0", "--until", "1", "--out", "r.html"]
    assert cli.main(argv) == 0
    assert called == [("civicsight.tools.traffic", argv[1:])]
