"""The search benchmark's synthetic world: N tracks of realistic shape (see
``civicsight.bench.search``) and the plate queries made from them."""

from __future__ import annotations

import random

import numpy as np

from civicsight.events import Appearance, PlateRead, TrackletRef, TrackUpdate, tracklet_id
from civicsight.store import Indexed

T0 = 1_700_000_000.0
DAYS = 30
CAMERAS = [f"cam-{i:02d}" for i in range(20)]
VEHICLES = ("car", "car", "car", "truck", "bus", "motorcycle")
FORMATS = ("LLDDDLL", "LLDDLLL", "LLLDDDD", "DLLLDDD", "LDDDLLL")
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
MISREAD = {"B": "8", "8": "B", "O": "0", "0": "O", "S": "5", "5": "S", "Z": "2", "2": "Z",
           "G": "6", "6": "G", "I": "1", "1": "I", "D": "0"}  # fmt: skip
MODEL = "bench-reid@1"
LATENT = 24


def plate_text(rng: random.Random) -> str:
    fmt = rng.choice(FORMATS)
    return "".join(rng.choice(LETTERS) if c == "L" else str(rng.randrange(10)) for c in fmt)


def misread(text: str, rng: random.Random) -> str:
    spots = [i for i, c in enumerate(text) if c in MISREAD]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + MISREAD[text[i]] + text[i + 1 :]


class World:
    """Deterministic synthetic tracks, generated in batches."""

    def __init__(self, dim: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.dim = dim
        self.proj = self.np.standard_normal((LATENT, dim)).astype(np.float32)

    def vectors(self, n: int) -> np.ndarray:
        v = self.np.standard_normal((n, LATENT)).astype(np.float32) @ self.proj
        v += 0.6 * self.np.standard_normal((n, self.dim)).astype(np.float32) * np.sqrt(LATENT)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def batch(self, start: int, n: int) -> tuple[list[Indexed], list[tuple[str, str, str]]]:
        """Events of tracks ``start .. start+n``, and (tracklet, class, plate) per tracklet."""
        events: list[Indexed] = []
        facts: list[tuple[str, str, str]] = []
        bases = self.vectors(n)
        for i in range(n):
            rng = self.rng
            cls = "person" if rng.random() < 0.4 else rng.choice(VEHICLES)
            legs = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
            t = T0 + rng.random() * DAYS * 86400
            plate = plate_text(rng) if cls != "person" else ""
            refs = []
            for leg, cam in enumerate(rng.sample(CAMERAS, legs)):
                duration = rng.uniform(5, 120)
                ref = TrackletRef(
                    camera_id=cam, track_id=start + i, first_seen=t, last_seen=t + duration
                )
                refs.append(ref)
                name = tracklet_id(cam, start + i)
                noise = 0.25 * self.np.standard_normal(self.dim).astype(np.float32)
                vec = bases[i] + noise / np.sqrt(self.dim)
                events.append(
                    Appearance(
                        camera_id=cam,
                        track_id=start + i,
                        captured_at=t + duration / 2,
                        cls=cls,
                        quality=round(rng.uniform(0.3, 1.0), 3),
                        model=MODEL,
                        embedding=tuple((vec / np.linalg.norm(vec)).tolist()),
                    )
                )
                if plate:
                    text = misread(plate, rng) if rng.random() < 0.15 else plate
                    events.append(
                        PlateRead(
                            camera_id=cam,
                            track_id=start + i,
                            captured_at=t + duration / 3,
                            text=text,
                            conf=round(rng.uniform(0.5, 0.99), 3),
                        )
                    )
                facts.append((name, cls, plate))
                t += duration + rng.uniform(30, 300) * (leg + 1)
            events.append(
                TrackUpdate(
                    track_id=f"t-{start + i:08d}",
                    version=1,
                    cls=cls,
                    tracklets=tuple(refs),
                    first_seen=refs[0].first_seen,
                    last_seen=refs[-1].last_seen,
                    closed=True,
                    emitted_at=refs[-1].last_seen + 5,
                )
            )
        return events, facts


def partial_patterns(plates: list[str], rng: random.Random) -> list[str]:
    out = []
    for i, p in enumerate(plates):
        shape = i % 3
        if shape == 0:
            out.append(p[:2] + "?" + p[3:5] + "*")  # AB?12*
        elif shape == 1:
            out.append("*" + p[-4:])  # *23CD
        else:
            k = rng.randrange(1, max(2, len(p) - 4))
            out.append("*" + p[k : k + 4] + "*")  # *X123*
    return out


def fuzzy_queries(plates: list[str], rng: random.Random) -> list[str]:
    out = []
    for p in plates:
        q = misread(p, rng)
        i = rng.randrange(len(q))
        q = q[:i] + rng.choice([c for c in LETTERS if c != q[i]]) + q[i + 1 :]
        out.append(q)
    return out
