"""Base settings shared by every service; each subclasses it once and builds it in main()."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class HubSettings(BaseSettings):
    """Where the bus and the data live. Read from CIVICSIGHT_* environment variables.

    All services share the CIVICSIGHT_ prefix, so a variable meant for another service
    is ignored here rather than refused; the YAML config models do forbid unknown keys.
    """

    model_config = SettingsConfigDict(env_prefix="CIVICSIGHT_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers (host:port, comma separated)"
    )
    kafka_security_protocol: str = Field(
        "PLAINTEXT", description="Kafka security.protocol (PLAINTEXT, SASL_SSL, ...)"
    )
    kafka_sasl_mechanism: str | None = Field(None, description="SASL mechanism, if any")
    kafka_username: str | None = Field(None, description="SASL user name")
    kafka_password: SecretStr | None = Field(None, description="SASL password")
    data_dir: Path = Field(Path("data"), description="where stores, tokens and logs live")
    log_level: str = Field("INFO", description="Python log level")

    def kafka_config(self) -> dict[str, str]:
        """librdkafka settings; the password is revealed only here, never logged."""
        cfg = {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            cfg["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_username:
            cfg["sasl.username"] = self.kafka_username
        if self.kafka_password:
            cfg["sasl.password"] = self.kafka_password.get_secret_value()
        return cfg
