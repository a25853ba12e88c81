"""Base settings shared by every service; each subclasses it once and builds it in main()."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from civicsight.retention import RetentionPolicy, load_policy

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class HubSettings(BaseSettings):
    """Where the bus and the data live. Read from CIVICSIGHT_* environment variables.

    All services share the CIVICSIGHT_ prefix, so a variable meant for another service
    is ignored here rather than refused; the YAML config models do forbid unknown keys.
    """

    model_config = SettingsConfigDict(
        env_prefix="CIVICSIGHT_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers (host:port, comma separated)"
    )
    kafka_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT",
        description="Kafka security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        None, description="SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); SASL_* only"
    )
    kafka_username: str | None = Field(None, description="SASL user name")
    kafka_password: SecretStr | None = Field(None, description="SASL password (never logged)")
    kafka_ssl_ca_location: Path | None = Field(
        None, description="CA certificate file (PEM) that signs the brokers' certificates"
    )
    data_dir: Path = Field(Path("data"), description="where stores, tokens and logs live")
    log_level: str = Field("INFO", description="Python log level")
    retention_file: Path | None = Field(
        None, description="retention policy YAML (durations per data class); unset: defaults"
    )

    @model_validator(mode="after")
    def _security(self) -> HubSettings:
        if self.kafka_sasl_mechanism == "PLAIN" and self.kafka_security_protocol != "SASL_SSL":
            raise ValueError("SASL PLAIN sends the password in clear: use SASL_SSL")
        if self.kafka_ssl_ca_location and not self.kafka_security_protocol.endswith("SSL"):
            raise ValueError("CIVICSIGHT_KAFKA_SSL_CA_LOCATION needs SSL or SASL_SSL")
        return self

    def kafka_config(self) -> dict[str, str]:
        """librdkafka settings; the password is revealed only here, never logged."""
        given = [self.kafka_sasl_mechanism, self.kafka_username, self.kafka_password]
        if self.kafka_security_protocol.startswith("SASL_") and not all(given):
            raise ValueError(
                f"{self.kafka_security_protocol} needs CIVICSIGHT_KAFKA_SASL_MECHANISM, "
                "CIVICSIGHT_KAFKA_USERNAME and CIVICSIGHT_KAFKA_PASSWORD"
            )
        cfg = {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol.startswith("SASL_"):  # SASL settings only for SASL
            assert self.kafka_sasl_mechanism and self.kafka_username and self.kafka_password
            cfg["sasl.mechanism"] = self.kafka_sasl_mechanism
            cfg["sasl.username"] = self.kafka_username
            cfg["sasl.password"] = self.kafka_password.get_secret_value()
        if self.kafka_ssl_ca_location:
            cfg["ssl.ca.location"] = str(self.kafka_ssl_ca_location)
        return cfg

    def retention_policy(self) -> RetentionPolicy:
        return load_policy(self.retention_file)
