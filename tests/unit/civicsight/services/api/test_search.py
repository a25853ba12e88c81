"""Search routes over real HTTP: a uvicorn server on a free port, a real SQLite store, the
re-ID service's real models (OMZ person re-ID, vehicle attributes) on real images."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from civicsight.audit import AuditLog, input_digest
from civicsight.auth import Role, TokenStore
from civicsight.events import Appearance, PlateRead, TrackletRef, TrackUpdate
from civicsight.models.appearance import AppearanceSettings
from civicsight.services.api.app import create_app
from civicsight.services.api.embedder import ReidImageEmbedder
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from tests.support import bomb_png, media_file, serving

from .conftest import encode_jpeg

NOW = time.time()
BODY_TIMEOUT_S = 2.0
WHY = {"case": "C-1", "purpose": "search test"}
# (track, class, image, box x1 y1 x2 y2): people and the bus in the sample photos
CROPS = [
    ("t-walker", "person", "bus.jpg", (48, 400, 245, 905)),
    ("t-right", "person", "bus.jpg", (665, 375, 810, 880)),
    ("t-middle", "person", "bus.jpg", (215, 400, 350, 865)),
    ("t-zidane", "person", "zidane.jpg", (740, 40, 1150, 710)),
    ("t-coach", "person", "zidane.jpg", (120, 190, 700, 720)),
    ("t-bus", "bus", "bus.jpg", (20, 230, 800, 750)),
]
PLATES = [("t-bus", "AB123CD", 0.9), ("t-car2", "A8I23CD", 0.7), ("t-car3", "XY999ZZ", 0.8)]


def crop(name: str, box: tuple[int, int, int, int], shift: int = 0) -> np.ndarray:
    image = cv2.imread(str(media_file(name)))
    x1, y1, x2, y2 = box
    return np.ascontiguousarray(image[y1 + shift : y2 + shift, x1 + shift : x2 - shift])


def update(track: str, cls: str, n: int, at: float, version: int = 1) -> TrackUpdate:
    return TrackUpdate(
        track_id=track,
        version=version,
        cls=cls,  # type: ignore[arg-type]
        tracklets=(TrackletRef(camera_id="cam-a", track_id=n, first_seen=at, last_seen=at + 5),),
        first_seen=at,
        last_seen=at + 5,
        emitted_at=at + 6,
    )


@pytest.fixture(scope="module")
def embedder(model_mirror: Path) -> Iterator[ReidImageEmbedder]:
    e = ReidImageEmbedder(AppearanceSettings(model_mirror=model_mirror))
    yield e
    e.close()


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path_factory.mktemp("audit"))
    log.open()
    yield log
    log.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, embedder: ReidImageEmbedder, trail: AuditLog
) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("search")
    store = SqliteTrackStore(folder / "tracks.db")
    tokens = TokenStore(folder / "auth.db")
    store.open()
    tokens.open()
    events: list[Any] = []
    for n, (track, cls, image, box) in enumerate(CROPS):
        at = NOW - 3600 + 60 * n
        events.append(update(track, cls, n, at))
        vector = embedder.embed(crop(image, box), cls)  # type: ignore[arg-type]
        events.append(
            Appearance(
                camera_id="cam-a",
                track_id=n,
                captured_at=at + 1,
                cls=cls,  # type: ignore[arg-type]
                quality=0.9,
                model=embedder.model_for(cls) or "",  # type: ignore[arg-type]
                embedding=tuple(vector.tolist()),
            )
        )
    for i, (track, text, conf) in enumerate(PLATES):
        n = next((k for k, c in enumerate(CROPS) if c[0] == track), 50 + i)
        if n >= 50:
            events.append(update(track, "car", n, NOW - 600 + i))
        events.append(
            PlateRead(
                camera_id="cam-a", track_id=n, captured_at=NOW - 600 + i, text=text, conf=conf
            )
        )
    # 23 reads of one plate for the pagination test, some at the same second
    for i in range(23):
        events.append(
            PlateRead(
                camera_id="cam-b", track_id=100 + i, captured_at=NOW - 300 + i // 3, text="PG777",
                conf=0.5,
            )
        )  # fmt: skip
    store.write(events, NOW)
    token = tokens.issue(Role.INVESTIGATOR, "test investigator")
    app = create_app(
        ApiState(store=store, tokens=tokens, audit=trail, embedder=embedder),
        body_timeout_s=BODY_TIMEOUT_S,
    )
    with serving(app) as url:
        yield url, token
    store.close()
    tokens.close()


@pytest.fixture
def http(server: tuple[str, str]) -> Iterator[httpx.Client]:
    base, token = server
    headers = {"Authorization": f"Bearer {token}"}
    # every search states a case and a purpose (their absence: test_roles.py, BAD_GETS)
    with httpx.Client(base_url=base, headers=headers, params=WHY) as c:
        yield c


def jpeg_upload(pixels: np.ndarray, quality: int = 80) -> dict[str, Any]:
    return {"image": ("crop.jpg", encode_jpeg(pixels, quality), "image/jpeg")}


# ---- plates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"pattern": "AB123CD"}, [("AB123CD", "t-bus", 0.0)]),
        ({"pattern": "ab 123-cd"}, [("AB123CD", "t-bus", 0.0)]),
        ({"pattern": "AB?23*"}, [("AB123CD", "t-bus", 0.0)]),
        ({"pattern": "*23CD"}, [("A8I23CD", "t-car2", 0.0), ("AB123CD", "t-bus", 0.0)]),
        (
            {"pattern": "AB123CD", "fuzzy": "0.5"},
            [("AB123CD", "t-bus", 0.0), ("A8I23CD", "t-car2", 0.5)],
        ),
        ({"pattern": "AB123CD", "camera": "cam-b"}, []),
        ({"pattern": "AB123CD", "since": str(NOW - 60)}, []),
    ],
)
def test_plate_search(
    http: httpx.Client, params: dict[str, str], expected: list[tuple[str, str, float]]
) -> None:
    """Guards plate search over HTTP: modes chosen from the query, filters, order."""
    resp = http.get("/api/search/plates", params=params)
    assert resp.status_code == 200, resp.text
    got = [(h["text"], h["track_id"], h["distance"]) for h in resp.json()["items"]]
    assert got == expected


def test_plate_pages_are_stable_and_complete(http: httpx.Client) -> None:
    """Guards pages that repeat or skip reads when many share a second."""
    seen: list[str] = []
    params = {"pattern": "PG777", "limit": "4"}
    while True:
        body = http.get("/api/search/plates", params=params).json()
        seen += [h["tracklet"] for h in body["items"]]
        if body["next"] is None:
            break
        params["cursor"] = body["next"]
    assert len(seen) == 23 == len(set(seen))
    again = http.get("/api/search/plates", params={"pattern": "PG777", "limit": "4"}).json()
    assert [h["tracklet"] for h in again["items"]] == seen[:4]


# ---- image -----------------------------------------------------------------------------


@pytest.mark.parametrize(("track", "cls", "image", "box"), [c for c in CROPS if c[0] != "t-right"])
def test_image_search_finds_the_same_object_first(
    http: httpx.Client, track: str, cls: str, image: str, box: tuple[int, int, int, int]
) -> None:
    """Guards an upload embedded differently from the re-ID service (another model, no
    normalisation), or hits of another class: another view of a stored crop (shifted by
    6 pixels, re-encoded) must find its own track first."""
    resp = http.post(
        "/api/search/image",
        files=jpeg_upload(crop(image, box, shift=6), 70),
        data={"cls": cls, "k": "3", **WHY},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["items"][0]["track_id"] == track
    assert body["items"][0]["score"] > 0.8
    assert all(h["cls"] == cls for h in body["items"])
    scores = [h["score"] for h in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_image_search_while_its_graph_is_rebuilt_is_a_503_with_the_progress(
    tmp_path: Path,
    embedder: ReidImageEmbedder,
    trail: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Guards an image search that waited minutes, or silently missed most vectors, while
    a damaged saved graph was rebuilt: it is refused at once with what is being done."""
    from civicsight.store.sqlite import vector_folder

    monkeypatch.setattr("civicsight.store.sqlite.EXACT_KNN_MAX", 0)  # the graph path
    monkeypatch.setattr("civicsight.store.vectors.VectorIndex._rebuild", lambda *a: None)
    model = embedder.model_for("person") or ""
    rng = np.random.default_rng(2)
    writer = SqliteTrackStore(tmp_path / "tracks.db", writer=True)
    writer.open()
    writer.write(
        [
            Appearance(
                camera_id="cam-a", track_id=i, captured_at=NOW - 60, cls="person", quality=0.5,
                model=model, embedding=tuple(rng.standard_normal(256).tolist()),
            )
            for i in range(300)  # more than a search re-ranks exactly
        ],
        NOW,
    )  # fmt: skip
    writer.close()  # saves the graphs
    graph = next(vector_folder(tmp_path / "tracks.db").glob("*.usearch"))
    graph.write_bytes(graph.read_bytes()[:100])
    store = SqliteTrackStore(tmp_path / "tracks.db")
    tokens = TokenStore(tmp_path / "auth.db")
    store.open()
    tokens.open()
    token = tokens.issue(Role.INVESTIGATOR, "test investigator")
    app = create_app(ApiState(store=store, tokens=tokens, audit=trail, embedder=embedder))
    with serving(app) as url:
        resp = httpx.post(
            f"{url}/api/search/image",
            headers={"Authorization": f"Bearer {token}"},
            files=jpeg_upload(crop("bus.jpg", CROPS[0][3]), 80),
            data={"cls": "person", **WHY},
        )
    store.close()
    tokens.close()
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == "30"
    assert "being rebuilt" in resp.json()["detail"]


def test_image_search_filters_by_time_and_camera(http: httpx.Client) -> None:
    walker = crop("bus.jpg", CROPS[0][3], shift=6)
    late = http.post(
        "/api/search/image",
        files=jpeg_upload(walker),
        data={"cls": "person", "since": str(NOW - 3600 + 90), **WHY},  # after the walker
    ).json()
    assert "t-walker" not in [h["track_id"] for h in late["items"]] and late["items"]
    other = http.post(
        "/api/search/image",
        files=jpeg_upload(walker),
        data={"cls": "person", "camera": "cam-z", **WHY},
    ).json()
    assert other["items"] == []


# ---- track detail ----------------------------------------------------------------------


def test_track_detail(http: httpx.Client) -> None:
    """Guards a detail without its plate reads or trajectory."""
    body = http.get("/api/tracks/t-bus").json()
    assert body["track_id"] == "t-bus" and body["cls"] == "bus"
    assert [s["tracklet"] for s in body["trajectory"]] == ["cam-a/5"]
    assert [(p["text"], p["conf"]) for p in body["plate_reads"]] == [("AB123CD", 0.9)]
    assert [h["kind"] for h in body["history"]] == ["created"]
    assert body["thumbnails"] == []


# ---- bad input -------------------------------------------------------------------------


def png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


GOOD = crop("bus.jpg", CROPS[0][3])
BAD_GETS = [
    ("/api/search/plates", {}, 400, "pattern"),
    ("/api/search/plates", {"pattern": "*1*"}, 400, "too vague"),
    ("/api/search/plates", {"pattern": "AB%12"}, 400, "A-Z"),
    ("/api/search/plates", {"pattern": "A" * 41}, 400, "pattern"),
    ("/api/search/plates", {"pattern": "AB123CD", "fuzzy": "3"}, 400, "fuzzy"),
    ("/api/search/plates", {"pattern": "AB?23CD", "fuzzy": "1"}, 400, "without ? or *"),
    ("/api/search/plates", {"pattern": "AB1", "fuzzy": "1"}, 400, "too short"),
    ("/api/search/plates", {"pattern": "AB1", "since": "200", "until": "100"}, 400, "after"),
    ("/api/search/plates", {"pattern": "AB1", "since": str(NOW - 40 * 86400)}, 400, "too long"),
    ("/api/search/plates", {"pattern": "AB1", "until": "100"}, 200, ""),  # 31 days before
    ("/api/search/plates", {"pattern": "AB1", "camera": "Cam A"}, 400, "camera"),
    ("/api/search/plates", {"pattern": "AB1", "cursor": "!!"}, 400, "cursor"),
    ("/api/search/plates", {"pattern": "AB1", "limit": "0"}, 400, "limit"),
    ("/api/search/plates", {"pattern": "AB1", "case": "a b"}, 400, "case"),
    ("/api/search/plates", {"pattern": "AB1", "purpose": "x"}, 400, "purpose"),
    ("/api/search/plates", {"pattern": "AB1", "case": ""}, 400, "case id"),
    ("/api/tracks/t-missing", {}, 404, "no track"),
    ("/api/tracks/" + "x" * 65, {}, 400, "track_id"),
]


@pytest.mark.parametrize(("path", "params", "status", "needle"), BAD_GETS)
def test_bad_queries_get_a_clear_4xx(
    http: httpx.Client, path: str, params: dict[str, str], status: int, needle: str
) -> None:
    """Guards a 500 or an empty 200 for input that cannot be searched."""
    resp = http.get(path, params=params)
    assert resp.status_code == status, resp.text
    assert needle in (resp.json().get("detail") or "" if status >= 400 else "")


BAD_UPLOADS = [
    ({}, {"cls": "person"}, 400, "image"),
    ({"image": ("a.txt", b"hello", "text/plain")}, {"cls": "person"}, 415, "JPEG or PNG"),
    ({"image": ("a.jpg", b"\xff\xd8garbage", "image/jpeg")}, {"cls": "person"}, 415, "readable"),
    ({"image": ("a.jpg", b"", "image/jpeg")}, {"cls": "person"}, 400, "empty"),
    ({"image": ("a.jpg", b"\xff" * (3 * 1024 * 1024), "image/jpeg")}, {"cls": "person"}, 413,
     "too large"),
    ({"image": ("a.png", png(np.zeros((8, 8, 3), np.uint8)), "image/png")}, {"cls": "person"},
     400, "pixels"),
    ({"image": ("a.png", png(GOOD), "image/png")}, {"cls": "horse"}, 400, "cls"),
    ({"image": ("a.png", png(GOOD), "image/png")}, {"cls": "bicycle"}, 400, "not embedded"),
    ({"image": ("a.png", png(GOOD), "image/png")}, {}, 400, "cls"),
    ({"image": ("a.png", png(GOOD), "image/png")}, {"cls": "person", "k": "0"}, 400, "k"),
    ({"image": ("a.png", png(GOOD), "image/png")}, {"cls": "person", "since": "5"}, 400,
     "too long"),
    ({"image": ("a.png", png(GOOD), "image/png")}, {"cls": "person", "camera": "../x"}, 400,
     "camera"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "data", "status", "needle"), BAD_UPLOADS)
def test_bad_uploads_get_a_clear_4xx(
    http: httpx.Client, files: dict[str, Any], data: dict[str, str], status: int, needle: str
) -> None:
    """Guards a 500, or a model run on something that is not a usable crop."""
    resp = http.post("/api/search/image", files=files or None, data={**WHY, **data})
    assert resp.status_code == status, resp.text
    assert needle in resp.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/search/plates?pattern=AB123CD"),
        ("POST", "/api/search/image"),
        ("GET", "/api/tracks/t-bus"),
    ],
)
def test_search_needs_a_token(server: tuple[str, str], method: str, path: str) -> None:
    """Guards a search route that forgot the auth dependency."""
    resp = httpx.request(method, server[0] + path)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"


def test_search_routes_are_in_the_openapi_schema(http: httpx.Client) -> None:
    paths = http.get("/api/openapi.json").json()["paths"]
    assert {"/api/search/plates", "/api/search/image", "/api/tracks/{track_id}"} <= set(paths)
    assert "multipart/form-data" in paths["/api/search/image"]["post"]["requestBody"]["content"]


def test_image_search_without_case_or_purpose_is_400(http: httpx.Client) -> None:
    """Guards the image search (a biometric-like search) running without a stated case."""
    resp = http.post("/api/search/image", files=jpeg_upload(GOOD), data={"cls": "person"})
    assert resp.status_code == 400 and "case id" in resp.json()["detail"]


def test_searches_are_audited_a_person_image_search_as_biometric(
    http: httpx.Client, trail: AuditLog
) -> None:
    """Guards EU AI Act Art. 12(3) for a search of a person by their look: who, when, the
    case, the purpose, the input (its SHA-256, never the image) and what it returned; plate
    searches keep their query and results."""
    upload = jpeg_upload(crop("bus.jpg", CROPS[0][3], shift=6))
    resp = http.post("/api/search/image", files=upload, data={"cls": "person", "k": "2", **WHY})
    assert resp.status_code == 200, resp.text
    (entry,) = trail.entries(action="search.biometric")[-1:]
    d = entry.details
    assert (entry.actor, entry.role) == ("test investigator", "investigator")
    assert (d["case_id"], d["purpose"]) == (WHY["case"], WHY["purpose"])
    assert d["input_sha256"] == input_digest(upload["image"][1])
    assert list(d["matches"]) == [h["track_id"] for h in resp.json()["items"]]
    assert d["started_at"] <= d["ended_at"]
    http.get("/api/search/plates", params={"pattern": "AB123CD"})
    plates = trail.entries(action="search.plates")[-1]
    assert (
        plates.details["results"] == ["t-bus"] and plates.details["query"]["pattern"] == "AB123CD"
    )
    assert trail.verify().ok


# ---- hardening: uploads (outside probe, findings 1-3) -----------------------------------


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the API's image decodes (the server runs in this process)."""
    calls: list[int] = []
    real = cv2.imdecode

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("civicsight.services.api.uploads.cv2.imdecode", counted)
    return calls


@pytest.mark.parametrize(
    ("width", "height", "bits"),
    [(30_000, 30_000, 8), (50_000, 50_000, 1), (4097, 64, 8)],
    ids=["30000x30000", "50000x50000-1bit", "one-pixel-too-wide"],
)
def test_decompression_bombs_are_refused_from_the_header(
    http: httpx.Client, decodes: list[int], width: int, height: int, bits: int
) -> None:
    """Finding 1: an 854 KB PNG of 30000x30000 pixels was decoded (22 s, 5.4 GB) before it
    was refused, and a 50000x50000 1-bit PNG gave a 500. Now its header is read and it is
    refused with 413 without a single decode."""
    data = bomb_png(width, height, bits)
    assert len(data) <= 2 * 1024 * 1024
    resp = http.post(
        "/api/search/image",
        files={"image": ("x.png", data, "image/png")},
        data={"cls": "person", **WHY},
    )
    assert resp.status_code == 413, resp.text
    assert f"{width}x{height}" in resp.json()["detail"] and "4096" in resp.json()["detail"]
    assert decodes == []


FOREIGN = [".gif", ".bmp", ".tiff", ".webp", ".jp2", ".ppm", ".hdr", ".ras"]


@pytest.mark.parametrize("declared", ["image/jpeg", "image/png"])
@pytest.mark.parametrize("ext", FOREIGN)
def test_uploads_are_typed_by_their_bytes(
    http: httpx.Client, decodes: list[int], ext: str, declared: str
) -> None:
    """Finding 2: GIF, BMP, TIFF, WebP, JPEG 2000, PPM, HDR and Sun-raster files sent as
    image/jpeg or image/png were searched (200). Only JPEG and PNG bytes are (415)."""
    pixels = GOOD.astype(np.float32) / 255 if ext == ".hdr" else GOOD
    data = cv2.imencode(ext, pixels)[1].tobytes()
    resp = http.post(
        "/api/search/image",
        files={"image": ("crop.jpg", data, declared)},
        data={"cls": "person", **WHY},
    )
    assert resp.status_code == 415, resp.text
    assert decodes == []


def test_a_png_sent_as_octet_stream_is_still_a_png(http: httpx.Client) -> None:
    """The other side of typing by content: a real PNG is searched whatever its label."""
    resp = http.post(
        "/api/search/image",
        files={"image": ("crop", png(GOOD), "application/octet-stream")},
        data={"cls": "person", "k": "1", **WHY},
    )
    assert resp.status_code == 200, resp.text


def test_health_answers_while_an_upload_is_decoded(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 1: a valid 4096x4096 PNG blocked every other request for 0.5 s, because it
    was decoded on the event loop. Here decoding is made to take a second: health must
    answer during that second (on the event loop it could not)."""
    real = cv2.imdecode
    spans: list[tuple[float, float]] = []

    def slow(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        time.sleep(1.0)
        out = real(*args, **kwargs)
        spans.append((start, time.monotonic()))
        return out

    monkeypatch.setattr("civicsight.services.api.uploads.cv2.imdecode", slow)
    big = np.full((4096, 4096, 3), 90, np.uint8)
    big[::7] = 200  # some structure, still a small file
    data = png(big)
    assert len(data) < 2 * 1024 * 1024
    result: dict[str, int] = {}

    def upload() -> None:
        with httpx.Client(base_url=str(http.base_url), headers=http.headers) as c:
            result["status"] = c.post(
                "/api/search/image",
                files={"image": ("big.png", data, "image/png")},
                data={"cls": "person", "k": "1", **WHY},
                timeout=60,
            ).status_code

    answered: list[float] = []
    with httpx.Client(base_url=str(http.base_url), timeout=30) as c:
        thread = threading.Thread(target=upload)
        thread.start()
        while thread.is_alive():
            if c.get("/api/health").status_code == 200:
                answered.append(time.monotonic())
            time.sleep(0.02)
        thread.join()
    assert result["status"] == 200
    ((start, end),) = spans
    assert [t for t in answered if start + 0.1 < t < end - 0.1], "health was blocked"


def raw_request(base: str, head: str, body_parts: list[bytes], pause_s: float = 0.0) -> bytes:
    """Sends a request over a plain socket part by part; returns what the server answered
    (possibly before the body was complete)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=BODY_TIMEOUT_S + 8) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(pause_s)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def chunked_head(token: str | None) -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        "POST /api/search/image?case=C-1&purpose=chunked+upload+test HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"{auth}"
        "Content-Type: multipart/form-data; boundary=b0undary\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_a_chunked_upload_without_a_token_is_refused_before_its_body(
    server: tuple[str, str],
) -> None:
    """Finding 3: a chunked multipart upload without a token was read and parsed in full
    before the token was checked, and an unfinished one held the connection. Now the
    answer (401) comes after the first chunk, while the body is still unfinished."""
    answer = raw_request(server[0], chunked_head(None), [chunk(b"--b0undary\r\n" + b"x" * 60_000)])
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_chunked_upload_over_the_limit_is_413(server: tuple[str, str]) -> None:
    """Finding 3: chunked bodies had no cap. 3 MB in 64 KB chunks: refused at the cap."""
    parts = [chunk(b"y" * 65_536) for _ in range(48)] + [b"0\r\n\r\n"]
    answer = raw_request(server[0], chunked_head(server[1]), parts)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_declared_length_over_the_limit_is_413_at_once(server: tuple[str, str]) -> None:
    head = chunked_head(None).replace(
        "Transfer-Encoding: chunked", f"Content-Length: {100 * 1024 * 1024}"
    )
    answer = raw_request(server[0], head, [b"z" * 1000])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_body_that_never_finishes_times_out(server: tuple[str, str]) -> None:
    """Finding 3: a slow body held the connection for ever. Now 408 after the timeout."""
    head = chunked_head(server[1]).replace("Transfer-Encoding: chunked", "Content-Length: 5000")
    started = time.monotonic()
    answer = raw_request(server[0], head, [b"--b0undary\r\n"])
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started >= BODY_TIMEOUT_S


def test_a_person_image_search_with_a_bad_case_is_400_and_never_runs(
    http: httpx.Client, trail: AuditLog, decodes: list[int]
) -> None:
    """Finding 5: for a person image search, ``C-1\\n`` passed the API's check, the search
    ran, then the audit record refused it: a 500 and no audit entry."""
    before = len(trail.entries())
    resp = http.post(
        "/api/search/image",
        files=jpeg_upload(GOOD),
        data={"cls": "person", "case": "C-1\n", "purpose": "search test"},
    )
    assert resp.status_code == 400 and "case" in resp.json()["detail"], resp.text
    assert decodes == [] and len(trail.entries()) == before
