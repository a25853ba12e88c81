"""Topic retention follows the policy on a real (tansu) broker, also for existing topics."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from civicsight.bus import ensure_topics
from civicsight.retention import RetentionPolicy
from civicsight.stack import EmbeddedBroker
from civicsight.topics import TOPICS

pytestmark = pytest.mark.broker


def retention_ms(config: dict[str, str]) -> dict[str, str]:
    admin = AdminClient(config)
    names = [n for t in TOPICS for n in (t.name, t.dlq)]
    res = [ConfigResource(ResourceType.TOPIC, n) for n in names]
    return {
        r.name: f.result()["retention.ms"].value
        for r, f in admin.describe_configs(res, request_timeout=10).items()
    }


def test_a_changed_policy_reaches_existing_topics(tmp_path: Path) -> None:
    """Guards against a shortened retention policy never reaching topics that already
    exist (ensure_topics used to create missing topics only)."""
    with EmbeddedBroker(log_file=tmp_path / "broker.log") as broker:
        config = {"bootstrap.servers": broker.bootstrap}
        assert len(ensure_topics(config)) == 2 * len(TOPICS)
        before = retention_ms(config)
        assert before["plate_reads"] == str(2 * 86_400_000)
        shorter = RetentionPolicy(plates_non_hit="12h", frames="10m")
        assert ensure_topics(config, policy=shorter) == []  # nothing new created
        after = retention_ms(config)
        assert after["plate_reads"] == after["plate_reads.dlq"] == str(12 * 3_600_000)
        assert after["frames"] == after["heartbeats"] == str(600_000)  # the frames class
        changed = tuple(t.name for t in TOPICS if t.data_class in ("plates_non_hit", "frames"))
        unchanged = {n: v for n, v in after.items() if not n.startswith(changed)}
        assert unchanged == {n: v for n, v in before.items() if n in unchanged}
