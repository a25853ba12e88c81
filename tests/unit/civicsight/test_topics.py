"""The topic table and the generated infra/kafka/topics.yaml stay equal."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicsight.events import EVENT_TYPES
from civicsight.retention import DEFAULT_POLICY, RetentionPolicy
from civicsight.topics import BUS_MAX_MS, TOPICS, all_topic_configs, render_yaml, topic

REPO = Path(__file__).resolve().parents[3]


def test_generated_yaml_matches_the_table() -> None:
    """Guards against editing topics.py without regenerating infra (run `make topics`)."""
    assert (REPO / "infra/kafka/topics.yaml").read_text() == render_yaml()


def test_every_event_type_has_a_topic() -> None:
    assert {t.value_type for t in TOPICS} == set(EVENT_TYPES)


@pytest.mark.parametrize("t", TOPICS, ids=lambda t: t.name)
def test_each_topic_has_a_dead_letter_topic_and_limits(t: object) -> None:
    names = {name for name, _, _ in all_topic_configs()}
    assert f"{t.name}.dlq" in names  # type: ignore[attr-defined]
    assert t.retention_ms() > 0 and t.max_bytes >= 64 * 1024  # type: ignore[attr-defined]


@pytest.mark.parametrize("t", TOPICS, ids=lambda t: t.name)
def test_topic_retention_comes_from_the_policy(t: object) -> None:
    """Guards against a topic (or its dead-letter topic) keeping data longer than the
    retention policy allows for its data class."""
    policy = RetentionPolicy(frames="10m", plates_non_hit="12h", tracks="2d", alerts="1d")
    configs = {name: cfg for name, _, cfg in all_topic_configs(policy)}
    keep = policy.keep_ms(t.data_class)  # type: ignore[attr-defined]
    want = str(min(keep, BUS_MAX_MS))
    assert configs[t.name]["retention.ms"] == want  # type: ignore[attr-defined]
    assert configs[t.dlq]["retention.ms"] == want  # type: ignore[attr-defined]
    assert t.retention_ms() == min(DEFAULT_POLICY.keep_ms(t.data_class), BUS_MAX_MS)  # type: ignore[attr-defined]


def test_unknown_topic_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="frames"):
        topic("frame")
