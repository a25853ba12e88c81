"""Hub settings: Kafka TLS/SASL combinations and the password never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from civicsight.settings import HubSettings

SASL = {"kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_username": "hub",
        "kafka_password": "s3cret-pw"}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {"security.protocol": "PLAINTEXT"}),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_location": "/etc/ca.pem"},
         {"security.protocol": "SSL", "ssl.ca.location": "/etc/ca.pem"}),
        ({"kafka_security_protocol": "SASL_SSL", **SASL},
         {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
          "sasl.username": "hub", "sasl.password": "s3cret-pw"}),
        ({"kafka_security_protocol": "PLAINTEXT", **SASL}, {"security.protocol": "PLAINTEXT"}),
    ],
    ids=["plaintext", "tls", "sasl-ssl", "sasl-settings-unused-on-plaintext"],
)  # fmt: skip
def test_kafka_config(fields: dict[str, Any], expected: dict[str, str]) -> None:
    settings = HubSettings(**fields)
    assert settings.kafka_config() == {"bootstrap.servers": "127.0.0.1:9092", **expected}
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", **SASL, "kafka_sasl_mechanism": "PLAIN"},
         "in clear"),
        ({"kafka_security_protocol": "PLAINTEXT", "kafka_ssl_ca_location": "/ca.pem"},
         "needs SSL"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism"),
    ],
    ids=["unknown-protocol", "plain-in-clear", "ca-without-tls",
         "mechanism"],
)  # fmt: skip
def test_bad_security_settings_are_refused(fields: dict[str, Any], problem: str) -> None:
    """Guards against a password sent in clear, or TLS settings silently ignored."""
    with pytest.raises(ValidationError, match=problem) as err:
        HubSettings(**fields)
    assert "s3cret-pw" not in str(err.value)


def test_sasl_without_credentials_fails_before_connecting() -> None:
    settings = HubSettings(kafka_security_protocol="SASL_SSL")
    with pytest.raises(ValueError, match="needs CIVICSIGHT_KAFKA_SASL_MECHANISM"):
        settings.kafka_config()


def test_retention_file_feeds_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text("tracks: 7d\n")
    assert HubSettings(retention_file=path).retention_policy().tracks.days == 7
