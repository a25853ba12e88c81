"""The stream worker's credentials: from the hub's settings (``HubSettings.kafka_config``),
into Faust and the aiokafka clients it makes, and never shown. Nothing here connects."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from civicsight.streams.app import StreamApp
from civicsight.streams.broker import broker_credentials, broker_urls
from civicsight.streams.settings import StreamSettings

CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUWEd40Ej9quZpjBaoP5U3YSbaglIwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSQ2l2aWNTaWdodCB0ZXN0IENBMCAXDTI2MTIwNDE3NTc1NloY
DzIxMjYxMTEwMTc1NzU2WjAdMRswGQYDVQQDDBJDaXZpY1NpZ2h0IHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQAmi6WZgCkY8YzGDA0DDT5DgkzmqgF
y7yYjsRh4YhVrhSYyyWrYkvutSL/i0erw9jPm5aNv5tmKKn27YRtfiZUo1MwUTAd
BgNVHQ4EFgQU97uUv75bHOrBvj4Hgj8qihSDkWIwHwYDVR0jBBgwFoAU97uUv75b
HOrBvj4Hgj8qihSDkWIwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEAgsGV+hPM+uPVSOXI1F+BG5PYB9EBsys+Hfb+jyfghe8CIEAOEV1L6xR2vg32
8Z0GSNnozkkIVOFHOEWLf9TPNQGT
-----END CERTIFICATE-----
"""
"""A self-signed CA certificate (public part only) that signs no broker."""
CA_NAME = ((("commonName", "CivicSight test CA"),),)


@pytest.mark.parametrize(
    ("bootstrap", "urls"),
    [
        ("127.0.0.1:9092", ["kafka://127.0.0.1:9092"]),
        ("a:1, b:2,", ["kafka://a:1", "kafka://b:2"]),
    ],
)
def test_broker_urls(bootstrap: str, urls: list[str]) -> None:
    """Guards: a multi-broker bootstrap list reaching Faust as one bogus host."""
    assert broker_urls(bootstrap) == urls


@pytest.mark.parametrize(
    ("protocol", "mechanism", "user", "password", "expect"),
    [
        ("PLAINTEXT", None, None, None, "none"),
        ("PLAINTEXT", None, "u", "s3cret-pw", "none"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", "u", "s3cret-pw", "SASL_PLAINTEXT"),
        ("SASL_SSL", "SCRAM-SHA-256", "u", "s3cret-pw", "SASL_SSL"),
        ("SASL_SSL", "PLAIN", "u", "s3cret-pw", "SASL_SSL"),
        ("SASL_SSL", None, "u", "s3cret-pw", "error"),  # as every service: no mechanism
        ("SASL_SSL", "SCRAM-SHA-512", None, None, "error"),
        ("SSL", None, None, None, "SSL"),
    ],
)
def test_credentials_come_from_the_hub_settings_and_are_never_shown(
    protocol: str,
    mechanism: str | None,
    user: str | None,
    password: str | None,
    expect: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Guards: the Kafka password showing up in Faust's banner, logs or reprs, a SASL
    cluster silently contacted without credentials, and the stream worker reading the
    bus settings its own way (it once defaulted a missing SASL mechanism to PLAIN where
    every other service refuses to start)."""
    settings = StreamSettings(
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_username=user,
        kafka_password=None if password is None else SecretStr(password),
    )
    if expect == "error":
        with pytest.raises(ValueError, match="needs"):
            StreamApp(settings)
        return
    creds = broker_credentials(settings.kafka_config())
    if expect == "none":
        assert creds is None
    else:
        assert creds is not None and creds.protocol.value == expect
        if protocol.startswith("SASL"):
            assert (creds.username, creds.mechanism.value) == (user, mechanism)  # type: ignore[attr-defined]
    with caplog.at_level(logging.DEBUG):
        app = StreamApp(settings).app
    assert type(app.conf.broker_credentials) is type(creds)
    for text in (
        repr(creds),
        str(app.conf.broker),
        repr(app.conf.broker_credentials),
        repr(settings),
        caplog.text,
    ):
        assert "s3cret-pw" not in text


@pytest.mark.parametrize(
    ("protocol", "extra"),
    [
        ("SSL", {}),
        (
            "SASL_SSL",
            {
                "kafka_sasl_mechanism": "SCRAM-SHA-512",
                "kafka_username": "u",
                "kafka_password": SecretStr("pw"),
            },
        ),
    ],
)
def test_the_ca_setting_reaches_the_aiokafka_ssl_context(
    protocol: str, extra: dict[str, object], tmp_path: Path
) -> None:
    """Guards the stream worker ignoring CIVICSIGHT_KAFKA_SSL_CA_LOCATION (it once built a
    context from the system CAs alone): against a cluster with its own CA every TLS
    handshake of its producer and consumer would fail, while every other service
    connects."""
    ca = tmp_path / "ca.pem"
    ca.write_text(CA_PEM)
    settings = StreamSettings(
        kafka_security_protocol=protocol,
        kafka_ssl_ca_location=ca,
        data_dir=tmp_path,
        **extra,  # type: ignore[arg-type]
    )
    app = StreamApp(settings).app

    async def clients() -> list[tuple[str, list[dict[str, object]]]]:
        producer = app.producer._new_producer()  # what the worker starts to send
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # and to read
        try:
            return [
                (client._security_protocol, client._ssl_context.get_ca_certs())
                for client in (producer.client, consumer._client)
            ]
        finally:
            await producer.stop()
            await consumer.stop()

    for security, cas in asyncio.run(clients()):
        assert security == protocol
        assert [c["subject"] for c in cas] == [CA_NAME]  # that CA, and only that one
