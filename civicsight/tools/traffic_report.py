"""The traffic report (``civicsight traffic report``): one self-contained HTML document
for a traffic authority, made of the published tables only (the API's, with the same
protection), so it holds nothing the API would not give the same reader.

Charts are drawn by matplotlib and embedded as inline SVG (glyphs as paths): the file
needs no other file, font or network. Sums over several bins are sums of what is
published; a withheld or unknown bin makes such a sum a lower bound, and the charts say
where.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from civicsight.cameras import CameraConfig
from civicsight.disclosure import Window
from civicsight.suppression import TOTAL
from civicsight.traffic_tables import (
    CLASSES,
    PublishedTable,
    TableName,
    Thresholds,
    iso,
)

COLOURS = {"person": "#4c78a8", "bicycle": "#72b7b2", "car": "#f58518", "motorcycle": "#e45756",
           "bus": "#54a24b", "truck": "#b279a2"}  # fmt: skip
STYLE = """
body { font: 15px/1.5 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1d2733;
  max-width: 1000px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 2em; font-size: 1.2em; }
.meta { color: #566270; } figure { margin: 1em 0; } figcaption { color: #566270; }
svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #d6dde4; padding: 4px 12px; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { background: #f2f5f8; border-left: 4px solid #7a8a9a; padding: 0.6em 1em; }
"""


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "civicsight", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def volumes_chart(counts: PublishedTable) -> str:
    """Crossings of every counting line per hour, by class (stacked): the sum of the
    published column totals of the hour's bins; hours with a withheld or unknown bin are
    marked (their bars are lower bounds)."""
    per_hour: dict[float, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CLASSES, 0))
    partial: set[float] = set()
    for r in counts.rows:
        if r["camera"] != TOTAL or r["class"] == TOTAL:
            continue
        hour = r["bin_start"] // 3600 * 3600
        per_hour[hour][r["class"]] += r["count"] or 0
        if r["count"] is None:
            partial.add(hour)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    hours = sorted(per_hour)
    x = [mdates.date2num(_utc(h)) for h in hours]
    bottom = [0] * len(hours)
    width = 1 / 24 * 0.85
    for cls in CLASSES:
        values = [per_hour[h][cls] for h in hours]
        if any(values):
            ax.bar(x, values, width, bottom=bottom, label=cls, color=COLOURS[cls], align="edge")
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    marked = [(x[i] + 25 / 1440, bottom[i]) for i, h in enumerate(hours) if h in partial]
    if marked:
        ax.scatter([m[0] for m in marked], [m[1] for m in marked],
                   marker="v", color="#1d2733", s=14, label="lower bound (withheld bins)",
                   zorder=3)  # fmt: skip
    ax.set_ylabel("crossings per hour")
    ax.set_xlabel("hour (UTC)")
    ax.xaxis_date(tz=dt.UTC)
    ax.legend(ncol=8, fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.autofmt_xdate()
    return _svg(fig)


def od_chart(od: PublishedTable) -> str | None:
    """Origin-destination over the window: published cells summed over bins and classes;
    ``≥`` where a bin's cell was withheld (the sum is a lower bound)."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    partial: set[tuple[str, str]] = set()
    for r in od.rows:
        if TOTAL in (r["origin"], r["destination"]) or r["status"] == "camera_down":
            continue
        pair = (r["origin"], r["destination"])
        sums[pair] += r["count"] or 0
        if r["count"] is None:
            partial.add(pair)
    if not sums:
        return None
    origins = sorted({o for o, _ in sums})
    dests = sorted({d for _, d in sums})
    grid = [[sums.get((o, d), 0) for d in dests] for o in origins]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(dests), 1.2 + 0.6 * len(origins)))
    ax.imshow(grid, cmap="Blues", aspect="auto")
    top = max(max(row) for row in grid) or 1
    for i, o in enumerate(origins):
        for j, d in enumerate(dests):
            if (o, d) not in sums:
                continue
            text = ("≥ " if (o, d) in partial else "") + str(grid[i][j])
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if grid[i][j] > top * 0.6 else "#1d2733")  # fmt: skip
    ax.set_xticks(range(len(dests)), dests, rotation=30, ha="right")
    ax.set_yticks(range(len(origins)), origins)
    ax.set_xlabel("destination (last camera)")
    ax.set_ylabel("origin (first camera)")
    return _svg(fig)


def journeys_chart(journeys: PublishedTable) -> str | None:
    """Per origin, destination and source: a box of the published per-bin median journey
    times (all classes), and a diamond at the median of the per-bin 85th percentiles."""
    p50s: dict[str, list[float]] = defaultdict(list)
    p85s: dict[str, list[float]] = defaultdict(list)
    for r in journeys.rows:
        if r["p50_s"] is None:
            continue
        name = f"{r['origin']} → {r['destination']} ({r['source']})"
        p50s[name].append(r["p50_s"])
        if r["p85_s"] is not None:
            p85s[name].append(r["p85_s"])
    if not p50s:
        return None
    names = sorted(p50s)
    fig, ax = plt.subplots(figsize=(10, 0.9 + 0.55 * len(names)))
    ax.boxplot([p50s[n] for n in names], orientation="horizontal", whis=(5, 95), showfliers=False,
               tick_labels=names, patch_artist=True,
               boxprops={"facecolor": "#cfe0f1", "edgecolor": "#4c78a8"},
               medianprops={"color": "#1d2733"})  # fmt: skip
    for i, n in enumerate(names, start=1):
        if p85s[n]:
            p85s[n].sort()
            ax.scatter([p85s[n][len(p85s[n]) // 2]], [i], marker="D", color="#f58518", s=22,
                       zorder=3, label="median p85" if i == 1 else None)  # fmt: skip
    ax.set_xlabel("journey time (s)")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(tag: str, v: object) -> str:
        num = isinstance(v, int | float)
        return f"<{tag}{' class=num' if num else ''}>{html.escape(str(v))}</{tag}>"

    head = "".join(cell("th", h) for h in headers)
    body = "".join("<tr>" + "".join(cell("td", v) for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_report(
    tables: Mapping[TableName, PublishedTable],
    cameras: Sequence[CameraConfig],
    window: Window,
    thresholds: Thresholds,
    generated_at: float,
) -> str:
    """The whole document (pure: the tables in, HTML text out)."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>Traffic report {esc(iso(window.start))} to {esc(iso(window.end))}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Traffic report</h1>",
        f"<p class=meta>Bins from {esc(iso(window.start))} to {esc(iso(window.end))} (UTC); "
        f"made {esc(iso(generated_at))} by CivicSight from the published traffic tables.</p>",
    ]
    summary = [
        (name, len(t.rows), t.suppressed,
         sum(r["status"] == "camera_down" for r in t.rows), t.k)
        for name, t in tables.items()
    ]  # fmt: skip
    withheld = sum(s[2] for s in summary)
    parts += [
        "<h2>What is in it</h2>",
        _table(["table", "rows", "rows with withheld values", "camera down", "k"], summary),
        f"<p><strong>{withheld}</strong> rows hold withheld values.</p>",
    ]
    if cameras:
        named = ", ".join(f"{esc(c.name)} (<code>{esc(c.id)}</code>)" for c in cameras)
        parts.append(f"<p>Cameras: {named}.</p>")
    if "counts" in tables:
        parts += [
            "<h2>Volumes by hour and class</h2><figure>",
            volumes_chart(tables["counts"]),
            "<figcaption>Crossings of every counting line per hour (a vehicle that crosses "
            "two lines counts twice), by class: the published column totals of each "
            "15-minute bin, added up. ▼ marks hours with a withheld bin: their bar is a lower "
            "bound.</figcaption></figure>",
        ]
    if "od" in tables and (chart := od_chart(tables["od"])):
        parts += [
            "<h2>Origin-destination</h2><figure>",
            chart,
            "<figcaption>Tracks from their first camera to their last, all classes, "
            "the published cells of every bin added up; ≥ marks pairs with a withheld "
            "cell in some bin (the number is a lower bound).</figcaption></figure>",
        ]
    if "journeys" in tables and (chart := journeys_chart(tables["journeys"])):
        parts += [
            "<h2>Journey times</h2><figure>",
            chart,
            "<figcaption>For each pair of cameras and source (cross-camera tracks, or plate "
            "pseudonyms): the box spans the middle half of the published per-bin median "
            "journey times (line: their median), whiskers the 5th to 95th percentile of "
            "them; the diamond is the median of the per-bin 85th percentiles. Only bins "
            f"with at least {thresholds.flow_k} journeys publish them.</figcaption></figure>",
        ]
    parts += [
        "<h2>Methods</h2><div class=note>",
        "<p><strong>Bins.</strong> Every number covers one aligned 15-minute bin (UTC); only "
        "whole bins that are over and settled are published, so two answers never differ "
        "by less than a bin.</p>",
        f"<p><strong>Small counts.</strong> Counts, turning movements, zone entries and "
        f"exits and speed counts below {thresholds.k}, and origin-destination and journey "
        f"counts below {thresholds.flow_k}, are withheld (empty). A zero is published: "
        "nothing was seen. Percentiles are published only when made of at least as many "
        "values; occupancy only when its peak reached the threshold.</p>",
        "<p><strong>Secondary suppression.</strong> Each bin's table is published with its "
        "row, column and grand totals; further cells (the smallest first) are withheld "
        "until no withheld value can be worked out from the totals, from other tables "
        "that may count the same vehicles (turning totals and line crossings, speed "
        "counts, journeys and origin-destination), or by subtracting. Protection is per "
        "bin and over the whole bin (every camera and class) before any filter, so the "
        "same numbers are published whatever was asked for. Totals over several bins are "
        "not published; sums in this report add up published values only.</p>",
        "<p><strong>Cameras down.</strong> A bin whose camera sent no frames is unknown, "
        "not zero; totals add up the cameras that were up.</p>",
        "</div></body></html>",
    ]
    return "\n".join(parts)
