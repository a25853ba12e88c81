"""Face matching accuracy and speed on a folder of labelled photos.

    civicsight eval faces ../shared/media/faces [--json] [--alias johnsnow=kit_harington]

The identity of each photo comes from its file name: ``train_<person>_<anything>`` names
the people; any other photo belongs to the longest such person its name (without a
``test_`` prefix and trailing digits) starts with, else to the first word of its name.
Photos whose name says several people (a word ``and``, ``with``, ``people`` or
``group``) are skipped: which face is whose is unknown. The widest face of each photo is
used, as in the service. Over all pairs of faces the eval reports the threshold that
keeps the false-accept rate (different people taken as one) at or below ``--far``, the
true-accept rate there and at the service's threshold, the distance distributions and
the time per face. The sample folder's ``test_johnsnow_test1.jpg`` shows Kit Harington
(Jon Snow is his role): pass ``--alias johnsnow=kit_harington`` to count it as him.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.faces import pick_face
from civicsight.images import read_image
from civicsight.models.registry import ModelUnavailableError
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.faces.settings import FacesSettings

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
GROUP_WORDS = frozenset({"and", "with", "people", "group"})


class EvalError(ValueError):
    """A folder the eval cannot use; the message says why."""


def _words(stem: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", stem.lower()) if w]


def identities(names: Sequence[str], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """File name -> identity, for the photos that show one nameable person (see above)."""
    aliases = aliases or {}
    known: set[str] = set()
    for name in names:
        words = _words(Path(name).stem)
        if len(words) >= 2 and words[0] == "train" and not GROUP_WORDS & set(words):
            who = words[1:-1] if len(words) > 2 else [words[1].rstrip("0123456789")]
            known.add("_".join(who))
    out: dict[str, str] = {}
    for name in names:
        words = _words(Path(name).stem)
        if words and words[0] in ("train", "test"):
            words = words[1:]
        if not words or GROUP_WORDS & set(words):
            continue
        words[-1] = words[-1].rstrip("0123456789")
        words = [w for w in words if w]
        if not words:
            continue
        prefixes = ["_".join(words[:n]) for n in range(len(words), 0, -1)]
        person = next((p for p in prefixes if p in known), words[0])
        out[name] = aliases.get(person, person)
    return out


def pair_distances(vectors: np.ndarray, people: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """L2 distances of all same-person pairs and all different-person pairs."""
    same: list[float] = []
    different: list[float] = []
    for i in range(len(people)):
        for j in range(i + 1, len(people)):
            d = float(np.linalg.norm(vectors[i] - vectors[j]))
            (same if people[i] == people[j] else different).append(d)
    return np.array(same), np.array(different)


def closest_different(
    vectors: np.ndarray, people: Sequence[str], names: Sequence[str], k: int = 3
) -> list[dict[str, Any]]:
    """The ``k`` nearest pairs of photos labelled as different people (a mislabelled photo,
    or a look-alike, shows up here)."""
    pairs = [
        (float(np.linalg.norm(vectors[i] - vectors[j])), names[i], names[j])
        for i in range(len(people))
        for j in range(i + 1, len(people))
        if people[i] != people[j]
    ]
    return [{"a": a, "b": b, "distance": round(d, 4)} for d, a, b in sorted(pairs)[:k]]


def threshold_at_far(different: np.ndarray, far: float) -> float:
    """The largest threshold (a pair matches when distance < threshold) that accepts at most
    ``far`` of the different-person pairs."""
    if not 0 < far < 1:
        raise ValueError(f"far must lie in (0, 1), got {far}")
    if not len(different):
        raise EvalError("no different-person pairs: photos of at least two people are needed")
    allowed = math.floor(far * len(different) + 1e-9)
    return float(np.sort(different)[allowed]) if allowed < len(different) else math.inf


def rates(same: np.ndarray, different: np.ndarray, threshold: float) -> tuple[float, float]:
    """(true-accept rate, false-accept rate) at ``threshold``."""
    tar = float((same < threshold).mean()) if len(same) else math.nan
    far = float((different < threshold).mean()) if len(different) else math.nan
    return tar, far


def summary(distances: np.ndarray) -> dict[str, float]:
    if not len(distances):
        return {"n": 0}
    q = np.percentile(distances, [0, 5, 50, 95, 100])
    return {
        "n": len(distances),
        "min": round(float(q[0]), 4),
        "p5": round(float(q[1]), 4),
        "median": round(float(q[2]), 4),
        "p95": round(float(q[3]), 4),
        "max": round(float(q[4]), 4),
    }


def histogram(same: np.ndarray, different: np.ndarray, step: float = 0.1) -> dict[str, list[Any]]:
    top = max(1.2, float(np.concatenate([same, different]).max(initial=0)) + step)
    edges = np.round(np.arange(0, top + 1e-9, step), 4)
    return {
        "edges": edges.tolist(),
        "same": np.histogram(same, edges)[0].tolist(),
        "different": np.histogram(different, edges)[0].tolist(),
    }


def evaluate(
    folder: Path,
    encoder: FaceEncoder,
    far: float,
    service_threshold: float,
    min_face_px: float,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    if not folder.is_dir():
        raise EvalError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EvalError(f"{folder}: no photos ({', '.join(IMAGE_SUFFIXES)})")
    labelled = identities([p.name for p in files], aliases)
    skipped = {p.name: "several people in the name" for p in files if p.name not in labelled}
    people: list[str] = []
    used: list[str] = []
    vectors: list[np.ndarray] = []
    detect_s = embed_s = 0.0
    detected = 0
    for path in files:
        if path.name not in labelled:
            continue
        image = read_image(path)
        t0 = time.perf_counter()
        faces = encoder.faces(image)
        t1 = time.perf_counter()
        detect_s += t1 - t0
        detected += 1
        i = pick_face(faces.widths, min_face_px)
        if i is None:
            skipped[path.name] = f"no face at least {min_face_px:g} px wide"
            continue
        vector = encoder.embed(image, faces.boxes[i : i + 1])[0]
        embed_s += time.perf_counter() - t1
        people.append(labelled[path.name])
        used.append(path.name)
        vectors.append(vector)
    if len(set(people)) < 2:
        raise EvalError(
            f"{folder}: faces of at least two people are needed, found {len(set(people))}"
        )
    stacked = np.stack(vectors)
    same, different = pair_distances(stacked, people)
    if not len(same):
        raise EvalError(f"{folder}: no person has two photos, so there are no same-person pairs")
    threshold = threshold_at_far(different, far)
    tar, far_got = rates(same, different, threshold)
    tar_service, far_service = rates(same, different, service_threshold)
    return {
        "folder": str(folder),
        "models": encoder.label,
        "photos": len(files),
        "faces": len(people),
        "identities": dict(sorted(Counter(people).items())),
        "skipped": skipped,
        "pairs": {"same": len(same), "different": len(different)},
        "far_target": far,
        "threshold_at_far": round(threshold, 4),
        "tar_at_far": round(tar, 4),
        "far_at_threshold": round(far_got, 4),
        "service_threshold": {
            "threshold": service_threshold,
            "tar": round(tar_service, 4),
            "far": round(far_service, 4),
        },
        "distances": {
            "same": summary(same),
            "different": summary(different),
            "histogram": histogram(same, different),
            "closest_different": closest_different(stacked, people, used),
        },
        "ms_per_face": {
            "detect": round(1000 * detect_s / detected, 1),
            "embed": round(1000 * embed_s / len(people), 1),
            "total": round(1000 * (detect_s + embed_s) / len(people), 1),
        },
    }


def render(result: dict[str, Any]) -> str:
    d = result["distances"]
    s = result["service_threshold"]
    lines = [
        f"faces eval on {result['folder']} ({result['models']})",
        f"  {result['faces']} faces of {len(result['identities'])} people from "
        f"{result['photos']} photos; pairs: {result['pairs']['same']} same, "
        f"{result['pairs']['different']} different",
        f"  TAR {100 * result['tar_at_far']:.1f} % at FAR <= {100 * result['far_target']:g} % "
        f"(threshold {result['threshold_at_far']}: FAR {100 * result['far_at_threshold']:.1f} %)",
        f"  at the service threshold {s['threshold']}: TAR {100 * s['tar']:.1f} %, "
        f"FAR {100 * s['far']:.1f} %",
        "  L2 distances     n     min    p5  median   p95    max",
    ]
    for kind in ("same", "different"):
        q = d[kind]
        lines.append(
            f"    {kind:<10} {q['n']:>5} {q['min']:>7.3f} {q['p5']:>5.3f} {q['median']:>6.3f} "
            f"{q['p95']:>6.3f} {q['max']:>6.3f}"
        )
    h = d["histogram"]
    lines.append("  histogram (bin start: same / different)")
    for edge, a, b in zip(h["edges"], h["same"], h["different"], strict=False):
        if a or b:
            lines.append(f"    {edge:4.1f}  {'#' * a}{' ' * (12 - min(a, 12))} {'x' * b}")
    worst_same = d["same"]["max"]
    for pair in d["closest_different"]:
        flag = "  <- nearer than a same-person pair: same person? (--alias)"
        lines.append(
            f"  closest different: {pair['a']} ~ {pair['b']} {pair['distance']:.3f}"
            + (flag if pair["distance"] < worst_same else "")
        )
    ms = result["ms_per_face"]
    lines.append(
        f"  time: detection {ms['detect']} ms per photo, embedding {ms['embed']} ms per face, "
        f"{ms['total']} ms per face in all"
    )
    for name, why in result["skipped"].items():
        lines.append(f"  skipped {name}: {why}")
    return "\n".join(lines)


def _alias(text: str) -> tuple[str, str]:
    name, sep, person = text.partition("=")
    if not sep or not name or not person:
        raise argparse.ArgumentTypeError(f"expected NAME=PERSON, got {text!r}")
    return name.lower(), person.lower()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="civicsight eval faces", description=__doc__)
    parser.add_argument("folder", type=Path, help="folder of photos named by person")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--far", type=float, default=0.01, help="false-accept rate to hold")
    parser.add_argument("--detector", help="face detector (default: CIVICSIGHT_FACE_DETECTOR)")
    parser.add_argument(
        "--alias", type=_alias, action="append", default=[], help="NAME=PERSON: same person"
    )
    args = parser.parse_args(argv)
    if not 0 < args.far < 1:
        parser.error(f"--far must lie in (0, 1), got {args.far}")
    if not args.folder.is_dir():
        print(f"error: {args.folder}: not a folder", file=sys.stderr)
        return 2
    settings = FacesSettings()
    if args.detector:
        settings = settings.model_copy(update={"face_detector": args.detector})
    try:
        encoder = FaceEncoder.from_registry(settings.model_choice())
        encoder.start()
        try:
            result = evaluate(
                args.folder,
                encoder,
                args.far,
                settings.face_threshold,
                settings.face_min_px,
                dict(args.alias),
            )
        finally:
            encoder.close()
    except (EvalError, ModelUnavailableError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
