"""`civicsight dashboards push` with grafana-client. No Grafana server can run here: a
small local HTTP server stands in for Grafana's HTTP API (the folder and dashboard
endpoints), records every request grafana-client sends, and answers as Grafana does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from civicsight.dashboards.build import DASHBOARDS
from civicsight.dashboards.cli import main

TOKEN = "glsa_test-token-not-for-printing"


@dataclass
class StandIn:
    """Grafana's folder and dashboard API, as far as push uses it."""

    url: str = ""
    folders: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    refuse_dashboards: int = 0


@pytest.fixture
def grafana() -> Iterator[StandIn]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.requests.append((self.command, self.path, dict(self.headers), body))
            return body

        def do_GET(self) -> None:
            self._record()
            uid = self.path.removeprefix("/api/folders/")
            if self.path.startswith("/api/folders/") and uid in state.folders:
                self._answer(200, {"uid": uid, "title": "CivicSight"})
            else:
                self._answer(404, {"message": "folder not found"})

        def do_POST(self) -> None:
            body = self._record()
            if self.path == "/api/folders":
                state.folders.add(body["uid"])
                self._answer(200, {"uid": body["uid"], "title": body["title"]})
            elif self.path == "/api/dashboards/db" and state.refuse_dashboards:
                self._answer(state.refuse_dashboards, {"message": "permission denied"})
            elif self.path == "/api/dashboards/db":
                self._answer(200, {"status": "success", "uid": body["dashboard"]["uid"]})
            else:
                self._answer(404, {"message": "not found"})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_push_creates_the_folder_and_overwrites_each_dashboard(
    grafana: StandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guards what grafana-client sends: the token as a bearer header, the folder made
    once, every dashboard into it with overwrite (a second push replaces, never fails
    or duplicates), and the token never printed."""
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    for _ in range(2):
        assert main(["push", "--url", grafana.url, "--token-env", "GRAFANA_TOKEN"]) == 0
    calls = [(method, path) for method, path, _, _ in grafana.requests]
    posts = ["POST /api/dashboards/db"] * len(DASHBOARDS)
    first = ["GET /api/folders/civicsight", "POST /api/folders", *posts]
    second = ["GET /api/folders/civicsight", *posts]
    assert [f"{m} {p}" for m, p in calls] == first + second
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for _, _, h, _ in grafana.requests)
    folder = grafana.requests[1][3]
    assert folder == {"title": "CivicSight", "uid": "civicsight"}
    pushed = [body for m, p, _, body in grafana.requests if p == "/api/dashboards/db"]
    assert {b["dashboard"]["uid"] for b in pushed} == {
        "civicsight-operations", "civicsight-traffic", "civicsight-traffic-es",
    }  # fmt: skip
    for body in pushed:
        assert body["overwrite"] is True and body["folderUid"] == "civicsight"
        assert body["dashboard"]["id"] is None and body["dashboard"]["panels"]
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    assert "pushed civicsight-operations" in out.out


@pytest.mark.parametrize(("status", "code"), [(401, 1), (403, 1)])
def test_a_refusal_is_reported_without_the_token(
    grafana: StandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    code: int,
) -> None:
    grafana.refuse_dashboards = status
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    url = grafana.url.replace("http://", "http://admin:hunter2@")
    assert main(["push", "--url", url, "--token-env", "GRAFANA_TOKEN"]) == code
    err = capsys.readouterr().err
    assert f"answered {status}" in err
    assert TOKEN not in err and "hunter2" not in err


def test_a_missing_token_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guards a push going out unauthenticated when the variable is unset."""
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    assert main(["push", "--url", "http://127.0.0.1:9", "--token-env", "NO_SUCH_TOKEN"]) == 2
    assert "$NO_SUCH_TOKEN is empty or unset" in capsys.readouterr().err
