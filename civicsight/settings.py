"""Settings, composed from parts: every service's settings class is ``HubSettings`` (bus,
data folder, logging, retention) plus the parts it needs (``CameraFiles`` or
``WatchedCameras``, ``MediaSource``, ``ModelSource``, ``DeviceChoice``,
``DisclosureSettings``; the track store's in ``civicsight.store.config``) plus its own
fields. A variable is declared once, in one part, however many services read it; the
configuration reference lists each with the services that read it. Every part reads
``CIVICSIGHT_*`` environment variables, is frozen, and never echoes input in errors.
Services get their settings from the runtime (``civicsight.runtime.run``), never at
import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from civicsight.cameras import CameraWatch
from civicsight.retention import RetentionPolicy, load_policy
from civicsight.traffic_tables import MIN_FLOW_K, MIN_K, Thresholds

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


CONFIG = SettingsConfigDict(
    env_prefix="CIVICSIGHT_", frozen=True, extra="ignore", hide_input_in_errors=True
)
"""All services share the CIVICSIGHT_ prefix, so a variable meant for another service is
ignored rather than refused; the YAML config models do forbid unknown keys."""
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?)$"


class CameraFiles(BaseSettings):
    """Where the camera files are."""

    model_config = CONFIG
    cameras_dir: Path = Field(Path("config/cameras"), description="folder of camera YAML files")


class WatchedCameras(CameraFiles):
    """Camera files a running service reads again now and then, so that an analytics
    switched on or off in a camera file takes effect without a restart."""

    cameras_reload_s: float = Field(
        30.0, gt=0, description="how often the plates and re-ID services read the camera files"
    )

    def watch(self, analytics: str) -> CameraWatch:
        """The cameras with ``analytics`` on, kept current."""
        return CameraWatch(self.cameras_dir, analytics, self.cameras_reload_s)


class MediaSource(BaseSettings):
    """Where file and ``media:`` camera sources (and the demo's media) are found."""

    model_config = CONFIG
    media_mirror: Path | None = Field(
        None,
        description="media root: file and media: camera sources must lie under it (the "
        "demo's sample media are read from it); unset: ./media",
    )

    @property
    def media_root(self) -> Path:
        return self.media_mirror or Path("media")


class ModelSource(BaseSettings):
    """Where model files come from: an offline mirror (air-gapped sites) or, where allowed,
    a download into ``DATA_DIR/models``; either way checked against the registry's sha256."""

    model_config = CONFIG
    model_mirror: Path | None = Field(None, description="offline folder of model files")
    model_download: bool = Field(False, description="download missing models from their source")


class DeviceChoice(BaseSettings):
    """The compute device every GPU-capable service defaults to; a service may be told
    otherwise with its own variable (``CIVICSIGHT_DETECT_DEVICE``, ...)."""

    model_config = CONFIG
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        description="auto (CUDA where present and usable), cpu, cuda or cuda:N; the default "
        "of every service's own *_DEVICE",
    )


class DisclosureSettings(BaseSettings):
    """The suppression thresholds of the published traffic tables (API, exports, report):
    a hub may raise them, never lower them."""

    model_config = CONFIG
    traffic_k: int = Field(
        MIN_K,
        ge=MIN_K,
        description="traffic counts, turning movements, zones and speeds below this are "
        "withheld (at least 5)",
    )
    traffic_flow_k: int = Field(
        MIN_FLOW_K,
        ge=MIN_FLOW_K,
        description="origin-destination and journey counts below this are withheld (at least 10)",
    )

    def thresholds(self) -> Thresholds:
        return Thresholds(self.traffic_k, self.traffic_flow_k)


class HubSettings(BaseSettings):
    """Where the bus and the data live, logging and the retention policy: what every
    process of the hub reads."""

    model_config = CONFIG

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
    metrics_port: int = Field(
        9400,
        ge=0,
        le=65535,
        description="port of the process's Prometheus /metrics on 127.0.0.1 (0: off); "
        "`civicsight up` gives its children this port and the ones above it, one each",
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
