"""The `civicsight` command: token issuing, topics YAML, and the tool table."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from civicsight.auth import TokenStore
from civicsight.cli import DEMO_CAMERAS, SERVICES, TOOLS, build_parser, demo_cameras
from civicsight.topics import render_yaml

REPO = Path(__file__).resolve().parents[3]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicsight", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **(env or {})},
    )


def test_token_issue_prints_only_a_working_token_stored_hashed(tmp_path: Path) -> None:
    """Guards `civicsight token issue` output that scripts cannot capture, or a token that
    does not work with the API's store (wrong data dir or file)."""
    env = {"CIVICSIGHT_DATA_DIR": str(tmp_path)}
    proc = run("token", "issue", "--role", "investigator", "--label", "alice", env=env)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert "\n" not in token and token not in proc.stderr and "valid until" in proc.stderr
    store = TokenStore(tmp_path / "auth.db")
    store.open()
    principal = store.verify(token)
    (info,) = store.issued()
    store.close()
    assert principal is not None and principal.role == "investigator"
    assert 29.9 < (info.expires_at - info.created_at) / 86400 <= 30  # the default: 30 days
    assert token.encode() not in (tmp_path / "auth.db").read_bytes()


@pytest.mark.parametrize(
    ("args", "env", "days"),
    [
        (["--days", "2"], {}, 2.0),
        (["--hours", "6"], {}, 0.25),
        ([], {"CIVICSIGHT_TOKEN_DAYS": "90"}, 90.0),
    ],
)
def test_token_lifetime_is_settable(
    tmp_path: Path, args: list[str], env: dict[str, str], days: float
) -> None:
    env = {"CIVICSIGHT_DATA_DIR": str(tmp_path), **env}
    proc = run("token", "issue", "--role", "viewer", "--label", "wall", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    store = TokenStore(tmp_path / "auth.db")
    store.open()
    (info,) = store.issued()
    store.close()
    assert abs((info.expires_at - info.created_at) / 86400 - days) < 1e-6


def test_token_list_and_revoke(tmp_path: Path) -> None:
    """Guards a token that cannot be taken back: revoke stops it at once, list shows its
    state, and both are audited."""
    from civicsight.audit import AuditLog

    env = {"CIVICSIGHT_DATA_DIR": str(tmp_path)}
    token = run("token", "issue", "--role", "viewer", "--label", "wall 3", env=env).stdout.strip()
    (listed,) = json.loads(run("token", "list", "--json", env=env).stdout)
    assert listed["label"] == "wall 3" and listed["live"] is True and "sha" not in str(listed)
    assert run("token", "revoke", listed["token_id"], env=env).returncode == 0
    again = run("token", "revoke", listed["token_id"], env=env)
    assert again.returncode == 1 and "no live token" in again.stderr
    assert "revoked" in run("token", "list", env=env).stdout
    store = TokenStore(tmp_path / "auth.db")
    store.open()
    assert store.verify(token) is None
    store.close()
    with AuditLog(tmp_path) as audit:
        actions = [(e.action, e.details.get("token_id")) for e in audit.entries()]
    assert actions == [("token.issue", listed["token_id"]), ("token.revoke", listed["token_id"])]


@pytest.mark.parametrize(
    "args",
    [
        ["token"],
        ["token", "--role", "viewer"],
        ["token", "issue", "--role", "root"],
        ["token", "issue", "--role", "viewer", "--days", "1", "--hours", "1"],
        ["token", "revoke"],
        ["nope"],
    ],
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    with pytest.raises(SystemExit) as err:
        build_parser().parse_args(args)
    assert err.value.code == 2


def test_topics_yaml() -> None:
    proc = run("topics", "--yaml")
    assert proc.returncode == 0 and proc.stdout == render_yaml()


@pytest.mark.parametrize("module", sorted({*TOOLS.values(), *(s.module for s in SERVICES)}))
def test_every_tool_and_service_module_exists(module: str) -> None:
    """Guards against the CLI naming a module that was renamed or never written."""
    assert importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    ("what", "rest", "module"),
    [
        ("detect", [], "civicsight.bench.detect"),
        ("detect", ["--device", "cpu"], "civicsight.bench.detect"),
        ("detect", ["--device", "cuda", "--json"], "civicsight.bench.detect_gpu"),
        ("detect", ["--json", "--device=cuda:1"], "civicsight.bench.detect_gpu"),
        ("detect", ["--device"], "civicsight.bench.detect"),
        ("gpu", [], "civicsight.bench.detect_gpu"),
    ],
)
def test_bench_detect_on_cuda_runs_the_torch_path(what: str, rest: list[str], module: str) -> None:
    """Guards against `bench detect --device cuda` silently benchmarking the CPU path."""
    from civicsight.cli import tool_module

    assert tool_module("bench", what, rest) == module


def test_audit_verify_exits_1_and_names_the_edited_entry(tmp_path: Path) -> None:
    """Guards `civicsight audit verify`: 0 on an intact log, 1 with the entry number after
    an edit, so a cron job or an auditor notices."""
    from civicsight.audit import AuditLog

    env = {"CIVICSIGHT_DATA_DIR": str(tmp_path)}
    with AuditLog(tmp_path) as log:
        for i in range(3):
            log.append("alice", "investigator", "search.tracks", {"i": i}, at=1000.0 + i)
    ok = run("audit", "verify", env=env)
    assert ok.returncode == 0 and "3 entries checked" in ok.stdout, ok.stderr
    shown = run("audit", "show", "--since", "1001", env=env)
    assert [line.split("\t")[0] for line in shown.stdout.splitlines()] == ["#2", "#3"]
    db = sqlite3.connect(tmp_path / "audit.db")
    with db:
        db.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 2")
    db.close()
    bad = run("audit", "verify", env=env)
    assert bad.returncode == 1 and "entry #2" in bad.stderr and "edited" in bad.stderr


def test_alerts_cli_needs_two_different_people(tmp_path: Path) -> None:
    """Guards the four-eyes rule on the command line: the same user twice is refused."""
    from civicsight.alert_store import AlertStore
    from civicsight.audit import AuditLog
    from civicsight.events import FaceObservation

    with AuditLog(tmp_path) as log:
        store = AlertStore(tmp_path / "alerts.db", log)
        store.open()
        alert, _ = store.record_match(
            FaceObservation(camera_id="gate", track_id=3, captured_at=1000.0,
                            watchlist_id="missing", entry_id="m-1", score=0.5, threshold=0.5)
        )  # fmt: skip
        store.close()
    env = {"CIVICSIGHT_DATA_DIR": str(tmp_path)}
    first = run("alerts", "confirm", alert.alert_id, "--user", "alice", env=env)
    assert first.returncode == 0 and "a second person must confirm" in first.stdout
    again = run("alerts", "confirm", alert.alert_id, "--user", "alice", env=env)
    assert again.returncode == 1 and "different person" in again.stderr
    second = run("alerts", "confirm", alert.alert_id, "--user", "bob", env=env)
    assert second.returncode == 0 and "confirmed" in second.stdout
    listed = run("alerts", "list", "--json", env=env)
    (doc,) = json.loads(listed.stdout)
    assert doc["state"] == "confirmed"
    assert [c["user"] for c in doc["confirmations"]] == ["alice", "bob"]


def test_token_and_user_commands_are_audited_without_secrets(tmp_path: Path) -> None:
    """Guards 'every setting change is audited': issuing a token or adding a user lands
    in the audit log, and neither the token nor the one-time password does."""
    from civicsight.audit import AuditLog

    env = {"CIVICSIGHT_DATA_DIR": str(tmp_path)}
    token = run("token", "issue", "--role", "viewer", "--label", "wall 3", env=env).stdout.strip()
    added = run("user", "add", "vera", "--role", "viewer", env=env)
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    with AuditLog(tmp_path) as audit:
        entries = audit.entries()
        assert audit.verify().ok
    assert [e.action for e in entries] == ["token.issue", "user.add"]
    assert entries[0].details["token_role"] == "viewer" and entries[0].details["label"] == "wall 3"
    assert entries[1].details == {"user": "vera", "user_role": "viewer"}
    raw = (tmp_path / "audit.db").read_bytes()
    assert token.encode() not in raw and secret.encode() not in raw


def test_up_audits_the_first_admin_and_the_demo_token_which_expires(tmp_path: Path) -> None:
    """Finding 6: each `up --demo` issued a never-expiring investigator token that was not
    audited, and creating the first admin was not audited."""
    from civicsight.audit import AuditLog
    from civicsight.cli import welcome

    first = welcome(tmp_path, "http://127.0.0.1:8080", demo=True, demo_token_hours=12)
    again = welcome(tmp_path, "http://127.0.0.1:8080", demo=True, demo_token_hours=12)
    assert "one-time password" in first and "one-time password" not in again
    token = again.split("#token=")[1].split()[0]
    store = TokenStore(tmp_path / "auth.db")
    store.open()
    demo = store.issued()
    who = store.verify(token)
    late = store.verify(token, now=time.time() + 13 * 3600)
    store.close()
    assert who is not None and who.role == "investigator" and late is None
    assert all(abs(t.expires_at - t.created_at - 12 * 3600) < 1 for t in demo)
    with AuditLog(tmp_path) as audit:
        entries = [(e.action, e.details) for e in audit.entries()]
    assert [a for a, _ in entries] == ["user.add", "token.issue", "token.issue"]
    assert entries[0][1]["first_admin"] is True
    assert {d["token_id"] for _, d in entries[1:]} == {t.token_id for t in demo}
    assert token.encode() not in (tmp_path / "audit.db").read_bytes()


def test_the_demo_runs_on_copies_of_its_camera_files(tmp_path: Path) -> None:
    """Guards the API saving rules into the source checkout's config/demo, and a restart
    of the demo throwing away the rules saved in its data folder."""
    folder = demo_cameras(tmp_path)
    assert folder == tmp_path / "cameras"
    names = sorted(p.name for p in DEMO_CAMERAS.glob("*.yaml"))
    assert sorted(p.name for p in folder.iterdir()) == names
    assert (folder / "walkway.yaml").read_text() == (DEMO_CAMERAS / "walkway.yaml").read_text()
    (folder / "walkway.yaml").write_text("id: walkway\nname: Saved\nsource: media:x.mp4\n")
    (folder / "plaza.yaml").unlink()
    assert demo_cameras(tmp_path) == folder
    assert (folder / "walkway.yaml").read_text().startswith("id: walkway\nname: Saved")
    assert (folder / "plaza.yaml").read_text() == (DEMO_CAMERAS / "plaza.yaml").read_text()


def test_each_service_gets_its_own_metrics_port() -> None:
    """Guards children sharing a metrics port (all but one lose /metrics) and metrics
    that cannot be turned off."""
    from civicsight.cli import hub_services

    specs = hub_services(9400)
    ports = [int(s.env["CIVICSIGHT_METRICS_PORT"]) for s in specs]
    assert [s.name for s in specs] == [s.name for s in SERVICES]
    assert ports == list(range(9400, 9400 + len(SERVICES)))
    assert {s.env["CIVICSIGHT_METRICS_PORT"] for s in hub_services(0)} == {"0"}


def test_up_lists_the_endpoints_and_writes_the_targets_file(tmp_path: Path) -> None:
    """Guards the endpoints printed by `up` and the file_sd targets file disagreeing
    with the ports the children were given."""
    from civicsight.cli import hub_services, metrics_endpoints

    text = metrics_endpoints(hub_services(20400), tmp_path)
    targets = json.loads((tmp_path / "prometheus-targets.json").read_text())
    assert [(t["labels"]["service"], t["targets"]) for t in targets] == [
        (s.name, [f"127.0.0.1:{20400 + i}"]) for i, s in enumerate(SERVICES)
    ]
    for i, s in enumerate(SERVICES):
        assert f"{s.name:<8} http://127.0.0.1:{20400 + i}/metrics" in text
    assert "Metrics are off" in metrics_endpoints(hub_services(0), tmp_path / "off")


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"CIVICSIGHT_API_PORT": "9403"}, "among the metrics ports"),
        ({"CIVICSIGHT_API_PORT": "8080"}, None),
        ({"CIVICSIGHT_API_PORT": "9403", "CIVICSIGHT_METRICS_PORT": "0"}, None),
    ],
)
def test_metrics_never_share_the_public_api_port(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], error: str | None
) -> None:
    """Guards /metrics served on the public API port (or the API failing to listen)."""
    from civicsight.cli import UpSettings

    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    if error is None:
        UpSettings()
    else:
        with pytest.raises(ValueError, match=error):
            UpSettings()


@pytest.mark.parametrize(
    ("binary", "metrics_port", "started", "said"),
    [
        ("no-such-prometheus", 9400, False, "no 'no-such-prometheus' on this machine"),
        ("/usr/bin/prometheus", 0, False, "metrics are off"),
        ("/usr/bin/prometheus", 9400, True, ""),
    ],
)
def test_up_prometheus_runs_debians_prometheus_or_says_why_not(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    binary: str,
    metrics_port: int,
    started: bool,
    said: str,
) -> None:
    """Guards `up --prometheus` failing obscurely where prometheus is not installed, and
    a Prometheus started without its config or listening beyond loopback."""
    from civicsight.cli import UpSettings, prometheus_child

    if started and not Path(binary).exists():
        pytest.skip("Debian's prometheus: scripts/prometheus-deps.sh")
    settings = UpSettings(prometheus_bin=binary, metrics_port=metrics_port, prometheus_port=19090)
    children = prometheus_child(settings, tmp_path)
    assert bool(children) == started
    assert said in caplog.text
    if started:
        (child,) = children
        assert child.name == "prometheus"
        assert child.argv() == [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prometheus'}",
            "--web.listen-address=127.0.0.1:19090",
            "--log.level=warn",
        ]
        assert "prometheus-targets.json" in (tmp_path / "prometheus.yml").read_text()


def test_up_takes_prometheus_and_dashboards_is_a_tool() -> None:
    args = build_parser().parse_args(["up", "--demo", "--prometheus"])
    assert args.prometheus and args.demo
    assert TOOLS[("dashboards", "")] == "civicsight.dashboards.cli"
