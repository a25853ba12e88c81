"""The stream worker's way onto the bus: broker URLs and credentials for Faust (and the
aiokafka clients under it), taken from the same place as every other process's
(``HubSettings.kafka_config()``: bootstrap servers, security protocol, SASL mechanism,
user and password, CA location), and the raw topics the app reads and writes."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import timedelta

import faust
from faust.types.auth import CredentialsT


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def ssl_context(config: Mapping[str, str]) -> ssl.SSLContext:
    """A client TLS context that trusts ``ssl.ca.location`` when given (the brokers' CA),
    else the system's CAs."""
    return ssl.create_default_context(cafile=config.get("ssl.ca.location"))


def broker_credentials(config: Mapping[str, str]) -> CredentialsT | None:
    """Faust credentials for librdkafka settings (``HubSettings.kafka_config()``), which
    has already checked them. The password goes from that dict into an object whose repr
    shows the user name alone."""
    protocol = config["security.protocol"]
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(config))
    if protocol not in ("SASL_PLAINTEXT", "SASL_SSL"):
        raise ValueError(f"unsupported Kafka security protocol {protocol!r}")
    return faust.SASLCredentials(
        username=config["sasl.username"],
        password=config["sasl.password"],
        mechanism=config["sasl.mechanism"],
        ssl_context=ssl_context(config) if protocol == "SASL_SSL" else None,
    )


def raw_topic(
    app: faust.App,
    *names: str,
    internal: bool = False,
    partitions: int | None = None,
    retention: timedelta | None = None,
) -> faust.TopicT:
    """A topic of raw bytes: events are decoded by ``civicsight.events``, not by Faust.
    Only ``internal`` topics are ever created by Faust."""
    return app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=internal,
        partitions=partitions,
        retention=retention,
    )
