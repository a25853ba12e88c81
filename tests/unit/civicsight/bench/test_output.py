"""The machine every benchmark names: CPU model, cores and instruction sets."""

from __future__ import annotations

import pytest

from civicsight.bench.output import cpu_info

EPYC = "model name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 avx512f avx512_vnni\n"
XEON = (
    "model name\t: Intel(R) Xeon(R) Platinum 8488C\nflags\t\t: avx2 avx512f avx512_vnni amx_int8\n"
)
OLD = "model name\t: Intel(R) Core(TM) i5-4590\nflags\t\t: sse4_2 avx avx2\n"


@pytest.mark.parametrize(
    ("text", "model", "isa"),
    [
        (EPYC, "AMD EPYC 9R14", ["avx2", "avx512", "vnni"]),
        (XEON, "Intel(R) Xeon(R) Platinum 8488C", ["avx2", "avx512", "vnni", "amx"]),
        (OLD, "Intel(R) Core(TM) i5-4590", ["avx2"]),
    ],
)
def test_cpu_info_names_model_and_instruction_sets(text: str, model: str, isa: list[str]) -> None:
    info = cpu_info(text)
    assert info["model"] == model
    assert info["isa"] == isa


def test_vnni_is_not_read_from_avx_vnni() -> None:
    """Guards a substring match: ``avx_vnni`` (AVX2 VNNI) is not AVX-512 VNNI."""
    info = cpu_info("model name: x\nflags: avx2 avx_vnni\n")
    assert info["isa"] == ["avx2", "avx_vnni"]
