"""Appearance evidence: quality-weighted embedding sums, the per-camera shift removed
online, and a log-likelihood ratio that knows how noisy each side's mean is.

Every camera adds its own shift to embeddings (lighting, angle). Each camera's running
mean embedding estimates that shift (the identities it sees average out), so a
tracklet's evidence is kept as raw sums and centred with its camera's current mean
whenever it is compared.

How close two means of the same object should be depends on how many and how good the
samples behind them are. The within-tracklet agreement of samples, measured online,
gives the per-sample reliability ``rho`` (cosine of one sample to the object's true
direction); a mean of weighted samples then has ``r = Q1*rho / sqrt(Q2 + rho^2 (Q1^2 - Q2))``
and the same object on two sides is expected at ``CROSS_CAMERA * r_a * r_b``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float64]

CROSS_CAMERA = 0.97
"""Cosine of one object's true directions on two cameras once the shift is removed."""
SAME_SD = 0.07
"""Spread of the same-object cosine around its expected value."""
LOOKALIKE_SHARE = 0.02
LOOKALIKE_COS = 0.62
LOOKALIKE_SD = 0.1
CENTRE_PRIOR = 20.0
"""Weight of the global mean in a camera's mean while the camera has seen little."""
LLR_RANGE = (-12.0, 10.0)


@dataclass
class Evidence:
    """Quality-weighted sums of one tracklet's (or track's) raw embeddings."""

    dim: int
    s: Vector = field(init=False)
    """sum of q * e"""
    s2: Vector = field(init=False)
    """sum of q^2 * e"""
    q1: float = 0.0
    q2: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.s = np.zeros(self.dim)
        self.s2 = np.zeros(self.dim)

    def add(self, embedding: Vector, quality: float) -> None:
        q = max(quality, 1e-3)
        self.s += q * embedding
        self.s2 += q * q * embedding
        self.q1 += q
        self.q2 += q * q
        self.n += 1


@dataclass
class Centred:
    """A mean direction with its reliability, ready to compare."""

    unit: Vector
    q1: float
    q2: float


@dataclass
class AppearanceModel:
    """Per-camera means (the shift), the sample reliability, and the impostor spread."""

    dim: int
    cam_sum: dict[str, Vector] = field(default_factory=dict)
    cam_w: dict[str, float] = field(default_factory=dict)
    total: Vector = field(init=False)
    total_w: float = 0.0
    pair_num: float = 0.0
    pair_den: float = 0.0
    impostor_sd: float = 0.12
    _imp_sq: float = 0.0
    _imp_n: float = 0.0

    def __post_init__(self) -> None:
        self.total = np.zeros(self.dim)

    def observe(self, camera: str, embedding: Vector, quality: float) -> None:
        q = max(quality, 1e-3)
        if camera not in self.cam_sum:
            self.cam_sum[camera] = np.zeros(self.dim)
            self.cam_w[camera] = 0.0
        self.cam_sum[camera] += q * embedding
        self.cam_w[camera] += q
        self.total += q * embedding
        self.total_w += q

    def centre(self, camera: str) -> Vector:
        g = self.total / self.total_w if self.total_w else np.zeros(self.dim)
        s = self.cam_sum.get(camera)
        if s is None:
            return g
        return (s + CENTRE_PRIOR * g) / (self.cam_w[camera] + CENTRE_PRIOR)

    def centred_sum(self, ev: Evidence, camera: str) -> Vector:
        return ev.s - ev.q1 * self.centre(camera)

    def learn_reliability(self, ev: Evidence, camera: str) -> None:
        """Fold a closed tracklet's sample agreement into ``rho``."""
        if ev.n < 2:
            return
        m = self.centre(camera)
        a = ev.s - ev.q1 * m
        b = ev.q2 * (1.0 + float(m @ m)) - 2.0 * float(ev.s2 @ m)
        length = b / ev.q2
        if length <= 0:
            return
        self.pair_num += (float(a @ a) - b) / length
        self.pair_den += ev.q1 * ev.q1 - ev.q2

    @property
    def rho(self) -> float:
        if self.pair_den < 5.0:
            return 0.6
        return math.sqrt(min(0.98, max(0.05, self.pair_num / self.pair_den)))

    def reliability(self, q1: float, q2: float) -> float:
        if q1 <= 0:
            return 0.0
        rho = self.rho
        return q1 * rho / math.sqrt(q2 + rho * rho * max(0.0, q1 * q1 - q2))

    def learn_impostor(self, cosines: Vector) -> None:
        """Candidates are mostly other objects: their cosines set the impostor spread."""
        if len(cosines) == 0:
            return
        c = np.clip(cosines, -0.5, 0.5)
        self._imp_sq += float(c @ c)
        self._imp_n += len(c)
        if self._imp_n >= 50:
            self.impostor_sd = min(0.3, max(0.05, math.sqrt(self._imp_sq / self._imp_n)))

    def llr(self, cos: Vector, r_a: float, r_b: Vector) -> Vector:
        """Log-likelihood ratio of cosines ``cos`` (same object vs. another)."""
        rr = r_a * r_b
        same = _logpdf(cos, CROSS_CAMERA * rr, SAME_SD)
        imp = np.logaddexp(
            math.log(1 - LOOKALIKE_SHARE) + _logpdf(cos, 0.0, self.impostor_sd),
            math.log(LOOKALIKE_SHARE) + _logpdf(cos, LOOKALIKE_COS * rr, LOOKALIKE_SD),
        )
        return np.clip(same - imp, *LLR_RANGE)


def _logpdf(x: Vector, mean: Vector | float, sd: float) -> Vector:
    z = (x - mean) / sd
    return np.asarray(-0.5 * z * z - math.log(sd * math.sqrt(2 * math.pi)))
