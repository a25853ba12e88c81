"""The join on the public ``small`` scenario, without a broker (quality guard)."""

from __future__ import annotations

from civicsight.streams.mtmc_score import score
from civicsight.streams.offline import run_offline
from civicsight.streams.scenario import open_scenario, read_truth
from tests.support import mirror


def test_small_scenario_quality() -> None:
    """Guards: a change to the association rules that loses identities (IDF1 target 0.95
    on small), links wrong people (link precision), or drops tracklets."""
    scenario = open_scenario(mirror("CIVICSIGHT_MTMC_MIRROR", "mtmc") / "scenarios" / "small")
    assert scenario.truth_path is not None
    result = run_offline(scenario)
    s = score(read_truth(scenario.truth_path), result.assignment)
    assert s["tracklets_missed"] == 0
    assert s["IDF1"] >= 0.95
    assert s["link_precision"] >= 0.95
