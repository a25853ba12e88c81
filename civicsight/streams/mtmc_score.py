"""Identity scores of cross-camera tracks (the metrics of ``../shared/mtmc/score.py``).

IDF1 / IDP / IDR weigh each tracklet by its detections and match predicted tracks to true
identities one to one (Ristani et al., 2016); a tracklet missing from the predictions is
missed. Link precision / recall count pairs of tracklets on different cameras put into
one track.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix


def _cross_camera_pairs(groups: Iterable[Counter[str]]) -> int:
    total = 0
    for cams in groups:
        n = sum(cams.values())
        total += n * (n - 1) // 2 - sum(k * (k - 1) // 2 for k in cams.values())
    return total


def score(truth: Iterable[Mapping[str, Any]], predicted: Mapping[str, str]) -> dict[str, float]:
    """``truth``: rows of truth.jsonl; ``predicted``: local_track_id -> global track id."""
    gt_ids: dict[Any, int] = {}
    pr_ids: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[int] = []
    total = 0
    missed = 0
    gt_groups: dict[int, Counter[str]] = defaultdict(Counter)
    pr_groups: dict[int, Counter[str]] = defaultdict(Counter)
    both: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    tracklets = 0
    for r in truth:
        tracklets += 1
        n = int(r.get("detections", 1)) or 1
        total += n
        g = gt_ids.setdefault(r["identity"], len(gt_ids))
        camera = str(r["camera_id"])
        gt_groups[g][camera] += 1
        gid = predicted.get(str(r["local_track_id"]))
        if gid is None:
            missed += 1
            continue
        q = pr_ids.setdefault(gid, len(pr_ids))
        pr_groups[q][camera] += 1
        both[(g, q)][camera] += 1
        rows.append(g)
        cols.append(q)
        vals.append(n)
    matrix = csr_matrix((vals, (rows, cols)), shape=(len(gt_ids), max(1, len(pr_ids)))).toarray()
    r_idx, c_idx = linear_sum_assignment(-matrix)
    idtp = float(matrix[r_idx, c_idx].sum())
    pred_total = float(matrix.sum())
    idfp = pred_total - idtp
    idfn = total - idtp
    tp = _cross_camera_pairs(both.values())
    gt = _cross_camera_pairs(gt_groups.values())
    pr = _cross_camera_pairs(pr_groups.values())
    prec = tp / pr if pr else 1.0
    rec = tp / gt if gt else 1.0
    denom = 2 * idtp + idfp + idfn
    return {
        "IDF1": round(2 * idtp / denom, 4) if denom else 0.0,
        "IDP": round(idtp / (idtp + idfp), 4) if pred_total else 0.0,
        "IDR": round(idtp / (idtp + idfn), 4) if total else 0.0,
        "link_precision": round(prec, 4),
        "link_recall": round(rec, 4),
        "link_F1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0,
        "tracklets": tracklets,
        "tracklets_missed": missed,
        "true_identities": len(gt_ids),
        "predicted_tracks": len(pr_ids),
    }
