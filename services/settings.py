"""The one settings object, read from environment variables."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services import logs
from services.security_settings import KafkaProtocol, SaslMechanism, check_kafka_security

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class MongoDriver(StrEnum):
    MOTOR = "motor"
    PYMONGO = "pymongo"


class Settings(BaseSettings):
    """Empty ``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI`` mean: run the embedded servers."""

    model_config = SettingsConfigDict(env_prefix="LMP_", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "LMP_KAFKA_BOOTSTRAP_SERVERS"),
        description="an external Kafka cluster (host:port,...); empty: the embedded broker of "
        "the development tooling",
    )
    kafka_security_protocol: KafkaProtocol = Field(
        default="PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL", "LMP_KAFKA_SECURITY_PROTOCOL"),
        description="how every Kafka client connects: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL "
        "(anything but PLAINTEXT needs KAFKA_BOOTSTRAP_SERVERS)",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512",
        validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "LMP_KAFKA_SASL_MECHANISM"),
        description="SASL mechanism with the SASL_* protocols: SCRAM-SHA-512, SCRAM-SHA-256 or "
        "PLAIN",
    )
    kafka_sasl_username: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_SASL_USERNAME", "LMP_KAFKA_SASL_USERNAME"),
        description="SASL user; required with the SASL_* protocols, refused without them",
    )
    kafka_sasl_password: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("KAFKA_SASL_PASSWORD", "LMP_KAFKA_SASL_PASSWORD"),
        description="SASL password; required with the SASL_* protocols, never printed",
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CAFILE", "LMP_KAFKA_SSL_CAFILE"),
        description="PEM CA bundle the broker's certificate is checked against (default: "
        "the system's CAs)",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_CERTFILE", "LMP_KAFKA_SSL_CERTFILE"),
        description="PEM client certificate, for brokers that require mutual TLS",
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_KEYFILE", "LMP_KAFKA_SSL_KEYFILE"),
        description="PEM private key of the client certificate (mutual TLS)",
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_SSL_KEY_PASSWORD", "LMP_KAFKA_SSL_KEY_PASSWORD"),
        description="password of an encrypted client key",
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True,
        validation_alias=AliasChoices("KAFKA_SSL_CHECK_HOSTNAME", "LMP_KAFKA_SSL_CHECK_HOSTNAME"),
        description="check the broker's name against its certificate (the CA is always checked)",
    )
    kafka_acl_principals: dict[str, str] = Field(
        default_factory=dict,
        description="party -> Kafka principal for `topics acls` (JSON); default User:<party>",
    )
    mongodb_uri: str = Field(
        default="",
        validation_alias=AliasChoices("MONGODB_URI", "LMP_MONGODB_URI"),
        description="a real MongoDB (or any compatible server); empty: the embedded server of "
        "the development tooling",
    )
    mongodb_database: str = Field(
        default="lmp_billing",
        validation_alias=AliasChoices("MONGODB_DATABASE", "LMP_MONGODB_DATABASE"),
        description="database name",
    )
    mongodb_driver: MongoDriver = Field(
        default=MongoDriver.PYMONGO,
        validation_alias=AliasChoices("MONGODB_DRIVER", "LMP_MONGODB_DRIVER"),
        description="pymongo (PyMongo's AsyncMongoClient) or motor (deprecated upstream)",
    )
    mongodb_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a database request that has not answered in this long fails (and is "
        "retried): a server that stops answering must not hold a batch forever",
    )
    mongodb_write_concern: str = Field(
        default="majority",
        pattern=r"^(majority|[0-9]+)$",
        description="acknowledgement of every write: 'majority' (a replica set's majority "
        "has it, so a failover cannot roll back an answer) or a number of members",
    )
    mongodb_read_concern: Literal["local", "majority"] = Field(
        default="majority",
        description="reads see only majority-committed data; with majority writes on the "
        "primary this reads one's own writes",
    )
    mongodb_retry_writes: bool = Field(
        default=True, description="a write cut by a failover is retried once by the driver"
    )
    home: Path = Field(
        default=PROJECT_ROOT / ".lmp",
        description="a processor's faust data directory; the embedded servers' data, logs and "
        "download/build cache",
    )
    topics_file: Path = Field(
        default=PROJECT_ROOT / "topics.yaml",
        description="the topic catalogue: every topic's partitions, cleanup, retention, "
        "types, producers and consumers",
    )
    topic_namespace: str = Field(default="", description="prefix of every topic name")
    topic_replication: int | None = Field(
        default=None,
        ge=1,
        description="replication factor of every topic created; unset, topics.yaml's (1), "
        "or 3 on the embedded cluster",
    )
    topic_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of every topic; unset, 2 where a topic has 3 or "
        "more replicas, else 1",
    )
    consumer_group_prefix: str = Field(
        default="lmp-billing",
        description="consumer group of a processor: this prefix, a dash and the processor's name",
    )
    batch_size: int = Field(
        default=20_000, ge=1, description="most messages a bulk batch holds (memory grows with it)"
    )
    batch_window_seconds: float = Field(
        default=1.0,
        gt=0,
        description="batching window of the usage, accounts and pricing processors",
    )
    action_batch_window_seconds: float = Field(
        default=0.02, gt=0, description="batching window of the action processors"
    )
    outbox_sweep_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how often each processor publishes outbox events left behind",
    )
    outbox_grace_seconds: float = Field(
        default=10.0,
        gt=0,
        description="how old a committed outbox must be before any processor's sweep "
        "publishes it; the processor that published it clears it after half this, unless "
        "its next write of the report dropped it already (more than twice the sweep period)",
    )
    kafka_session_timeout_seconds: float = Field(
        default=10.0, ge=6, description="how long a crashed consumer holds its partitions"
    )
    instance_id: str = Field(
        default="",
        max_length=100,
        description="a stable identity of this process among its processor's instances; "
        "when set, it joins its consumer group as a static member, so a restart takes its "
        "partitions back at once instead of after the session timeout",
    )
    action_consumer: Literal["agent", "bulk"] = Field(
        default="bulk",
        description="the consumer path of the action processors: aiokafka batches (measured "
        "faster), or faust agents (docs/architecture.md, Two consumer paths)",
    )
    shutdown_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a stopping processor waits for its batch in flight to finish; "
        "past it the process exits without committing that batch (it is redelivered)",
    )
    dead_letter_max_bytes: int = Field(
        default=512 * 1024,
        ge=4096,
        description="a dead letter larger than this leaves out the original bytes and "
        "points at them (topic, partition, offset)",
    )
    receipt_margin_days: int = Field(
        default=7,
        ge=0,
        description="receipts live as long as the longest inbound or dead-letter "
        "retention plus this margin",
    )
    purge_batch: int = Field(
        default=500,
        ge=1,
        description="most reports or receipts one delete of a timer pass removes (a pass "
        "deletes up to 20 such bites while they come whole)",
    )
    timer_interval_seconds: float = Field(
        default=5.0, gt=0, description="how often the timer looks for due reports"
    )
    retry_backoff_seconds: float = Field(
        default=0.5,
        gt=0,
        description="first pause before retrying what may pass (a server away, contention); "
        "doubled on each retry, with jitter",
    )
    retry_backoff_max_seconds: float = Field(
        default=10.0, gt=0, description="longest pause between two retries"
    )
    heartbeat_file: Path | None = Field(
        default=None,
        description="when set, a processor touches this file every few seconds while its "
        "event loop turns and its database answers (a container healthcheck reads its age)",
    )
    metrics_flush_seconds: float = Field(
        default=5.0, gt=0, description="how often processors add their counters to the database"
    )
    api_host: str = Field(default="127.0.0.1", description="where the read API listens")
    api_port: int = Field(default=8080, description="the read API's port")
    api_page_size_max: int = Field(
        default=500, ge=1, description="largest page a list query may ask for"
    )
    api_workers: int = Field(default=1, ge=1, description="processes serving the read API")
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="how long the read API trusts a key it read (revocation delay), and a "
        "partner's access to usage reports",
    )
    api_list_total_seconds: float = Field(
        default=2.0,
        ge=0,
        description="how long the read API reuses a list's total for the same query (0: "
        "counted on every request); the rows of a page, and whether another page follows, "
        "are always read fresh",
    )
    log_level: str = Field(
        default=logs.DEFAULT,
        description="log level of every command, the processors included: "
        f"{', '.join(logs.LEVELS)} (any case)",
    )

    log_format: Literal["text", "json", "auto"] = Field(
        default="text",
        description="log lines of every command and process: text, JSON lines with the "
        "message's ids (docs/observability.md), or auto (JSON when stderr is not a terminal)",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        lt=65536,
        description="a processor serves its own /metrics and /ready on this port (0: off; "
        "`lmp-billing up` gives each process its own, from this port up)",
    )
    ready_max_seconds_since_commit: float = Field(
        default=120.0,
        gt=0,
        description="a processor is not ready when it has lag and has committed nothing for "
        "this long",
    )
    api_export_totals: bool = Field(
        default=True,
        description="this read API instance serves the database-backed totals on /metrics; "
        "with several replicas, set it on one only (no double counting)",
    )

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        return logs.level_name(value)

    @model_validator(mode="after")
    def _kafka_security_holds_together(self) -> Settings:
        check_kafka_security(self)
        return self

    @model_validator(mode="after")
    def _outbox_cleared_before_swept(self) -> Settings:
        """A published outbox is cleared by the first sweep tick after half the grace:
        that must come before any sweep finds it old enough to publish again."""
        if self.outbox_grace_seconds <= 2 * self.outbox_sweep_seconds:
            raise ValueError(
                "LMP_OUTBOX_GRACE_SECONDS must be more than twice LMP_OUTBOX_SWEEP_SECONDS"
            )
        return self

    def catalogue_args(self) -> tuple[Path, int | None, str, int | None]:
        return (
            self.topics_file,
            self.topic_replication,
            self.topic_namespace,
            self.topic_min_insync_replicas,
        )
