"""Security settings become client arguments, and bad ones are refused by name."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.types.auth import AuthProtocol
from pydantic import ValidationError

from services.adapters.catalogue import Catalogue
from services.adapters.kafka_acls import UnknownParty, plan_acls
from services.adapters.kafka_security import (
    KafkaConnection,
    client_kwargs,
    kafka_connection,
    kafka_security,
)
from services.cli import main
from services.processors import registry
from services.settings import PROJECT_ROOT, Settings
from tests.tls import KEY_PASSWORD, Certificates, make_certificates

pytestmark = pytest.mark.unit

BROKERS = "kafka-1.example:9093"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def settings(**values: Any) -> Settings:
    return Settings(KAFKA_BOOTSTRAP_SERVERS=BROKERS, **values)


def test_plaintext_is_the_default_and_adds_no_credentials() -> None:
    security = kafka_security(settings())
    assert security.client_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert security.faust_credentials() is None
    assert client_kwargs("127.0.0.1:9092") == {"bootstrap_servers": "127.0.0.1:9092"}


def test_sasl_ssl_gives_aiokafka_and_faust_the_mechanism_user_and_a_verifying_context(
    certs: Certificates,
) -> None:
    configured = settings(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
        KAFKA_SASL_USERNAME="usage",
        KAFKA_SASL_PASSWORD="s3cret",
        KAFKA_SSL_CAFILE=str(certs.ca),
    )
    connection = kafka_connection(configured)
    kwargs = connection.client_kwargs()
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "bootstrap_servers": BROKERS,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "usage",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert any("lmp-billing test CA" in str(ca["subject"]) for ca in context.get_ca_certs())
    assert str(connection) == BROKERS
    assert "s3cret" not in repr(connection)

    credentials = connection.security.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol == AuthProtocol.SASL_SSL
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert (credentials.username, credentials.password) == ("usage", "s3cret")
    assert credentials.ssl_context is context


def test_sasl_plaintext_has_no_tls_context() -> None:
    security = kafka_security(
        settings(
            KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
            KAFKA_SASL_MECHANISM="PLAIN",
            KAFKA_SASL_USERNAME="u",
            KAFKA_SASL_PASSWORD="p",
        )
    )
    assert "ssl_context" not in security.client_kwargs()
    credentials = security.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol == AuthProtocol.SASL_PLAINTEXT
    assert credentials.mechanism.value == "PLAIN"


def test_mutual_tls_loads_the_client_certificate_and_may_skip_the_hostname_check(
    certs: Certificates,
) -> None:
    security = kafka_security(
        settings(
            KAFKA_SECURITY_PROTOCOL="SSL",
            KAFKA_SSL_CAFILE=str(certs.ca),
            KAFKA_SSL_CERTFILE=str(certs.client_cert),
            KAFKA_SSL_KEYFILE=str(certs.client_key),
            KAFKA_SSL_KEY_PASSWORD=KEY_PASSWORD,
            KAFKA_SSL_CHECK_HOSTNAME="false",
        )
    )
    kwargs = security.client_kwargs()
    assert kwargs["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in kwargs
    assert not kwargs["ssl_context"].check_hostname
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    credentials = security.faust_credentials()
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.context is kwargs["ssl_context"]


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)
    return str(caught.value)


def test_an_unknown_mechanism_is_refused_with_the_ones_supported() -> None:
    message = refusal(KAFKA_BOOTSTRAP_SERVERS=BROKERS, KAFKA_SASL_MECHANISM="SCRAM-SHA-1")
    assert "KAFKA_SASL_MECHANISM" in message
    assert "'SCRAM-SHA-512', 'SCRAM-SHA-256' or 'PLAIN'" in message


def test_sasl_without_a_password_is_refused() -> None:
    message = refusal(
        KAFKA_BOOTSTRAP_SERVERS=BROKERS, KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="u"
    )
    assert "KAFKA_SASL_PASSWORD is required with KAFKA_SECURITY_PROTOCOL=SASL_SSL" in message
    assert "KAFKA_SASL_USERNAME is required" not in message


def test_missing_or_unusable_tls_files_are_refused_by_name(
    certs: Certificates, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.pem"
    message = refusal(
        KAFKA_BOOTSTRAP_SERVERS=BROKERS, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=missing
    )
    assert f"KAFKA_SSL_CAFILE={missing}: no such file" in message

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    message = refusal(
        KAFKA_BOOTSTRAP_SERVERS=BROKERS, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=garbage
    )
    assert f"KAFKA_SSL_CAFILE={garbage}: not a PEM CA bundle" in message

    message = refusal(
        KAFKA_BOOTSTRAP_SERVERS=BROKERS,
        KAFKA_SECURITY_PROTOCOL="SSL",
        KAFKA_SSL_CERTFILE=certs.client_cert,
        KAFKA_SSL_KEYFILE=certs.client_key,
        KAFKA_SSL_KEY_PASSWORD="wrong",
    )
    assert "the client certificate and key do not load" in message


def test_security_settings_the_protocol_would_ignore_are_refused(certs: Certificates) -> None:
    message = refusal(KAFKA_BOOTSTRAP_SERVERS=BROKERS, KAFKA_SSL_CAFILE=certs.ca)
    assert "does not use TLS: use SSL or SASL_SSL" in message
    message = refusal(KAFKA_BOOTSTRAP_SERVERS=BROKERS, KAFKA_SASL_USERNAME="u")
    assert "does not authenticate with SASL" in message
    message = refusal(KAFKA_SECURITY_PROTOCOL="SSL")
    assert "needs KAFKA_BOOTSTRAP_SERVERS" in message


def test_the_cli_exits_2_naming_the_bad_setting_and_never_printing_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", BROKERS)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "GSSAPI")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "do-not-print-me")
    assert main(["topics", "list"]) == 2
    err = capsys.readouterr().err
    assert "lmp-billing: invalid settings:" in err
    assert "KAFKA_SASL_MECHANISM: Input should be" in err
    assert "do-not-print-me" not in err


def test_a_plain_string_still_means_plaintext() -> None:
    connection = KafkaConnection("h:1")
    assert connection.client_kwargs() == {
        "bootstrap_servers": "h:1",
        "security_protocol": "PLAINTEXT",
    }


def acls_of(principal: str, namespace: str = "") -> set[tuple[str, str, str, bool]]:
    catalogue = Catalogue.load(PROJECT_ROOT / "topics.yaml", None, namespace)
    readers = {name: spec.topics for name, spec in registry().items()}
    grants = plan_acls(catalogue, readers, "lmp-billing", {"trend-micro-back-office": "User:tm"})
    return {
        (a.operation, a.resource, a.name, a.prefixed)
        for g in grants
        for a in g.acls()
        if a.principal == principal
    }


def test_acls_follow_the_topic_contract_and_the_processors_declarations() -> None:
    partner = acls_of("User:partner-portal")
    assert ("Write", "topic", "lmp.partner-actions.v1", False) in partner
    assert not any(name == "lmp.trendmicro-responses.v1" for _, _, name, _ in partner)
    assert ("Read", "topic", "lmp.report-events.v1", False) in partner

    trend_micro = acls_of("User:tm")
    assert ("Write", "topic", "lmp.trendmicro-responses.v1", False) in trend_micro
    assert ("Read", "topic", "lmp.trendmicro-submissions.v1", False) in trend_micro
    assert acls_of("User:trend-micro-back-office") == set()

    for processor, spec in registry().items():
        own = acls_of(f"User:{processor}")
        assert ("Write", "topic", "lmp.dead-letter.v1", False) in own
        assert ("Read", "group", f"lmp-billing-{processor}", True) in own
        assert {("Read", "topic", t, False) for t in spec.topics} <= own
    assert ("Write", "topic", "lmp.trendmicro-submissions.v1", False) in acls_of(
        "User:distributor-actions"
    )
    assert ("Write", "topic", "lmp.penalties.v1", False) in acls_of("User:timer")
    assert ("Write", "topic", "lmp.penalties.v1", False) not in acls_of("User:usage")


def test_acls_name_the_physical_topics_of_a_namespace() -> None:
    usage = acls_of("User:usage", namespace="staging.")
    assert ("Read", "topic", "staging.lmp.usage.v1", False) in usage
    assert not any(name.startswith("lmp.") for _, _, name, _ in usage)


def test_a_principal_for_an_unknown_party_is_refused() -> None:
    catalogue = Catalogue.load(PROJECT_ROOT / "topics.yaml")
    with pytest.raises(UnknownParty, match="unknown party partner-portl; known: "):
        plan_acls(catalogue, {}, "lmp-billing", {"partner-portl": "User:p"})
