"""docker-compose.yml and its monitoring (deploy/): the shape of a scaled deployment.

No Docker engine runs here, so the files are checked, not run: three KRaft brokers on one
quorum, topics with three replicas and two in sync, a MongoDB replica set written with a
majority, two instances of every processor the code registers, a healthcheck on every
long-running service and start-up ordered on them, Prometheus on the API's metrics port,
and a Grafana dashboard whose every query reads a metric the code exports.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from pymongo.uri_parser import parse_uri

from services.adapters import counters
from services.adapters.catalogue import Catalogue
from services.adapters.store import connect
from services.api.metrics import ApiMetrics, _families
from services.api.server import ApiContext, build_api
from services.observability import tracing
from services.processors import registry
from services.runtime import process_metrics
from services.settings import PROJECT_ROOT, Settings
from tooling.infra.kafka_server import KAFKA_VERSION

pytestmark = pytest.mark.unit

APP_IMAGE = "lmp-billing:local"
DEPLOY = PROJECT_ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def brokers(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in services.items()
        if svc["image"].partition(":")[0] == "apache/kafka"
    }


def processors(services: dict[str, Any]) -> dict[str, list[str]]:
    """Processor name -> the services that run it (`lmp-billing process NAME`)."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for service, svc in services.items():
        command = svc.get("command", [])
        if command[:1] == ["process"]:
            by_name[command[1]].append(service)
    return by_name


def settings_of(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a container with ``env`` reads (the real model validates it), and
    nothing else: the test's own environment and earlier containers' are cleared."""
    for key in list(os.environ):
        if key.startswith(("LMP_", "KAFKA_", "MONGODB_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    return Settings()


def test_every_processor_the_code_registers_runs_twice_with_its_own_instance_id(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    running = processors(services)
    assert set(running) == set(registry())
    for name, instances in running.items():
        assert len(instances) == 2, f"{name}: {instances}"
        ids = [settings_of(services[s]["environment"], monkeypatch).instance_id for s in instances]
        assert all(ids), f"{name}: an instance without LMP_INSTANCE_ID"
        assert len(set(ids)) == 2, f"{name}: instance ids {ids}"
        for service in instances:
            assert services[service]["image"] == APP_IMAGE
            assert services[service]["restart"] == "unless-stopped"


def test_the_app_image_is_built_from_the_dockerfile_and_runs_topics_and_the_api(
    services: dict[str, Any],
) -> None:
    assert (PROJECT_ROOT / "Dockerfile").is_file()
    app = {name for name, svc in services.items() if svc["image"] == APP_IMAGE}
    assert all(services[name]["build"] == "." for name in app)
    assert services["topics"]["command"] == ["topics", "ensure"]
    assert services["api"]["command"][:3] == ["api", "--host", "0.0.0.0"]
    assert app == {"topics", "api", *(s for ss in processors(services).values() for s in ss)}


def test_three_kraft_brokers_with_distinct_node_ids_share_one_quorum(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    found = brokers(services)
    assert len(found) == 3
    envs = {name: svc["environment"] for name, svc in found.items()}
    assert sorted(int(env["KAFKA_NODE_ID"]) for env in envs.values()) == [1, 2, 3]
    assert len({env["CLUSTER_ID"] for env in envs.values()}) == 1
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()}
    assert len(voters) == 1
    expected = {
        f"{env['KAFKA_NODE_ID']}@{found[name]['hostname']}:{listener_port(env, 'CONTROLLER')}"
        for name, env in envs.items()
    }
    assert set(voters.pop().split(",")) == expected
    for name, env in envs.items():
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        advertised = dict(
            listener.split("://") for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        )
        assert advertised["PLAINTEXT"] == f"{found[name]['hostname']}:9092"
        assert found[name]["hostname"] == name
    external = [env["KAFKA_ADVERTISED_LISTENERS"].rpartition(":")[2] for env in envs.values()]
    assert len(set(external)) == 3
    # Every app container bootstraps from all three brokers.
    app_env = settings_of(services["topics"]["environment"], monkeypatch)
    assert sorted(app_env.kafka_bootstrap_servers.split(",")) == [
        f"{name}:9092" for name in sorted(found)
    ]


def listener_port(env: dict[str, Any], name: str) -> int:
    for listener in env["KAFKA_LISTENERS"].split(","):
        listener_name, _, address = listener.partition("://")
        if listener_name == name:
            return int(address.rpartition(":")[2])
    raise AssertionError(f"no {name} listener in {env['KAFKA_LISTENERS']}")


def test_topics_have_three_replicas_and_need_two_in_sync(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(services["topics"]["environment"], monkeypatch)
    catalogue = Catalogue.load(*settings.catalogue_args())
    assert {topic.replication for topic in catalogue.topics.values()} == {3}
    for svc in brokers(services).values():
        env = svc["environment"]
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == 2
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # Every app container creates (or verifies) topics and faust's own with the same factor.
    for name, svc in services.items():
        if svc["image"] == APP_IMAGE:
            assert settings_of(svc["environment"], monkeypatch).topic_replication == 3, name


def test_mongodb_is_a_replica_set_written_with_a_majority(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    mongodb = services["mongodb"]
    assert mongodb["image"].startswith("mongo:7.")
    command = mongodb["command"]
    replica_set = command[command.index("--replSet") + 1]
    script = mongodb["healthcheck"]["test"][-1]
    for step in ("rs.status()", "rs.initiate(", "isWritablePrimary", "quit("):
        assert step in script
    for name, svc in services.items():
        if svc["image"] != APP_IMAGE:
            continue
        uri = parse_uri(settings_of(svc["environment"], monkeypatch).mongodb_uri)
        assert uri["options"]["replicaSet"] == replica_set, name
        assert uri["options"]["w"] == "majority", name
        assert uri["options"]["retryWrites"] is True, name
        # The member the set is initiated with is the address the apps reach.
        for host, port in uri["nodelist"]:
            assert f"host: '{host}:{port}'" in script


def long_running(services: dict[str, Any]) -> Iterator[str]:
    return (name for name, svc in services.items() if svc.get("restart") != "no")


def test_every_long_running_service_has_a_healthcheck_and_start_up_waits_for_them(
    services: dict[str, Any],
) -> None:
    running = set(long_running(services))
    assert running == set(services) - {"topics"}
    for name in running:
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        assert test[0] in ("CMD", "CMD-SHELL"), name
    for name, svc in services.items():
        for dependency, rule in svc.get("depends_on", {}).items():
            wanted = (
                "service_healthy" if dependency in running else "service_completed_successfully"
            )
            assert rule == {"condition": wanted}, f"{name} -> {dependency}"
    assert set(services["topics"]["depends_on"]) == set(brokers(services))
    for instances in processors(services).values():
        for service in instances:
            assert set(services[service]["depends_on"]) == {"topics", "mongodb"}


def test_processors_are_healthy_while_their_heartbeat_is_recent(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for instances in processors(services).values():
        for service in instances:
            svc = services[service]
            test = svc["healthcheck"]["test"]
            assert test[1:4] == ["python", "-m", "services.runtime.heartbeat"]
            assert importlib.util.find_spec(test[3]) is not None
            heartbeat_file = settings_of(svc["environment"], monkeypatch).heartbeat_file
            # Where the image's user may write: LMP_HOME (Dockerfile).
            assert heartbeat_file == Path("/app/.lmp/heartbeat")
            assert int(svc["healthcheck"]["start_period"].removesuffix("s")) >= 30


def test_images_are_pinned_releases(services: dict[str, Any]) -> None:
    images = {svc["image"] for svc in services.values()} - {APP_IMAGE}
    assert images == {
        f"apache/kafka:{KAFKA_VERSION}",  # the same Kafka the tests run from its jars
        "mongo:7.0.14",
        "prom/prometheus:v3.1.0",
        "grafana/grafana:11.4.0",
        "otel/opentelemetry-collector:0.115.1",
        "jaegertracing/all-in-one:1.64.0",
    }


def test_the_image_is_built_on_a_pinned_base_from_the_production_lock() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE)
    assert bases
    pinned = re.compile(r"python:3\.11\.\d+-slim-\w+(@sha256:\w+)?")
    assert all(pinned.fullmatch(base) for base in bases), bases
    assert "--require-hashes -r /tmp/prod.lock" in dockerfile
    assert "pip install --no-deps /tmp/wheels/" in dockerfile


def api_routes() -> set[str]:
    """The read API's routes, as its metrics label them (the real application's router;
    the database client it is given connects to nothing until asked)."""

    async def no_lag() -> list[tuple[str, str, int]]:
        return []

    async def ready() -> None:
        return None

    store = connect(Settings(MONGODB_URI="mongodb://127.0.0.1:9/"))
    context = ApiContext(store, lambda: datetime.now(UTC), no_lag, ready)
    return {resource.canonical for resource in build_api(context).router.resources()}


def test_prometheus_scrapes_the_apis_metrics_port(services: dict[str, Any]) -> None:
    api = services["api"]
    port = int(api["command"][api["command"].index("--port") + 1])
    assert f"{port}:{port}" in api["ports"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "lmp-billing-api"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert "/metrics" in api_routes()
    assert [t for c in job["static_configs"] for t in c["targets"]] == [f"api:{port}"]
    assert (
        "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in (services["prometheus"]["volumes"])
    )
    assert services["prometheus"]["depends_on"] == {"api": {"condition": "service_healthy"}}


def test_prometheus_scrapes_every_processor_instance_on_its_metrics_port(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "lmp-billing-processors"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = {t for c in job["static_configs"] for t in c["targets"]}
    expected = set()
    for instances in processors(services).values():
        for service in instances:
            env = services[service]["environment"]
            settings_of(env, monkeypatch)  # the container's environment validates
            port = process_metrics.port_from_environment({k: str(v) for k, v in env.items()})
            assert port, f"{service}: no LMP_METRICS_PORT, nothing to scrape"
            expected.add(f"{service}:{port}")
    assert targets == expected


def test_processors_and_the_api_send_traces_to_the_collector_which_feeds_jaeger(
    services: dict[str, Any],
) -> None:
    collector = yaml.safe_load((DEPLOY / "otel" / "collector.yml").read_text())
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    port = http.rpartition(":")[2]
    (exporter,) = collector["service"]["pipelines"]["traces"]["exporters"]
    assert collector["exporters"][exporter]["endpoint"].startswith("jaeger:")
    assert mounts(services["otel-collector"])["./deploy/otel/collector.yml"] == (
        "/etc/otelcol/config.yaml"
    )
    for name, svc in services.items():
        if svc.get("image") == APP_IMAGE and name != "topics":
            env = svc["environment"]
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-collector:{port}", name
            assert tracing.wanted({k: str(v) for k, v in env.items()}), name


def mounts(svc: dict[str, Any]) -> dict[str, str]:
    """Host path -> container path of a service's bind mounts."""
    return {
        host: target
        for host, target, *_ in (v.split(":") for v in svc["volumes"])
        if host.startswith("./")
    }


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(
    services: dict[str, Any],
) -> None:
    grafana = mounts(services["grafana"])
    assert grafana["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provisioning = DEPLOY / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "lmp-billing.yml").read_text())[
        "providers"
    ]
    assert grafana["./deploy/grafana/dashboards"] == provider["options"]["path"]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/lmp-billing.json"
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]


def dashboard_panels() -> list[dict[str, Any]]:
    dashboard = json.loads((DASHBOARDS / "lmp-billing.json").read_text())
    assert dashboard["uid"] == dashboard["title"] == "lmp-billing"
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exported_samples() -> dict[str, dict[str, set[str]]]:
    """Every sample name the read API's /metrics can show -> its labels and their values,
    rendered by the real code with one stored count of every counter the processors keep."""
    names = [v for k, v in vars(counters).items() if k.isupper() and isinstance(v, str)]
    stored = [{"name": n, "value": 1, "processor": "p", "topic": "t"} for n in names]
    families = _families(stored, {("open", None): 1}, [("group", "topic", 1)])

    class Snapshot(Collector):
        def collect(self) -> list[Metric]:
            return families

    registry_ = CollectorRegistry()
    registry_.register(Snapshot())
    api = ApiMetrics()
    api.requests.labels("/v1/billing-reports", "200").inc()
    api.latency.labels("/v1/billing-reports").observe(0.01)
    own = process_metrics.ProcessMetrics("usage")
    own.highwater[("lmp.usage.v1", 0)] = 1
    with own.batch(1):
        own.outcomes(["lmp.usage.v1"], ["lmp.usage.v1"])
    own.swept(0)
    text = (
        generate_latest(registry_) + generate_latest(api.registry) + generate_latest(own.registry)
    ).decode()
    samples: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                samples[sample.name][label].add(value)
            samples[sample.name].setdefault("", set())
            if sample.name.startswith("lmp_processor_"):
                # What Prometheus adds to every series it scrapes from a processor.
                samples[sample.name]["instance"].add("usage-1:9464")
                samples[sample.name]["job"].add("lmp-billing-processors")
    return samples


METRIC = re.compile(r"\blmp_[a-z0-9_]+")
BY = re.compile(r"\bby \(([^)]*)\)")
MATCHER = re.compile(r"(\w+)\s*(=~|!~|!=|=)\s*\"([^\"]*)\"")


def test_every_dashboard_query_reads_metrics_and_labels_the_code_exports() -> None:
    exported = exported_samples()
    queried: set[str] = set()
    for panel in dashboard_panels():
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            metrics = set(METRIC.findall(expr))
            assert metrics, expr
            unknown = metrics - set(exported)
            assert not unknown, f"{panel['title']}: {sorted(unknown)} are not exported"
            labels = set().union(*(exported[m].keys() for m in metrics)) - {""}
            for group in BY.findall(expr):
                used = {label.strip() for label in group.split(",")}
                assert used <= labels, f"{expr}: {sorted(used - labels)} are no labels"
            for label, operator, value in MATCHER.findall(expr):
                assert label in labels, f"{expr}: {label} is no label"
                # Each value matched is one the code gives the label: no typo matches nothing.
                known = (
                    api_routes()
                    if label == "route"
                    else set().union(*(exported[m].get(label, set()) for m in metrics))
                )
                values = value.split("|") if "~" in operator else [value]
                assert set(values) <= known, f"{expr}: {sorted(set(values) - known)}"
            queried |= metrics
    # What the dashboard is for: lag, messages by outcome, reports by status, the timer's
    # runs and skipped reports, the API's latency quantiles and request rate.
    assert {
        "lmp_consumer_lag",
        "lmp_messages_total",
        "lmp_reports",
        "lmp_timer_runs_total",
        "lmp_timer_skipped_reports_total",
        "lmp_api_request_seconds_bucket",
        "lmp_api_requests_total",
        "lmp_processor_batch_seconds_bucket",
        "lmp_processor_records_total",
        "lmp_processor_in_flight_records",
        "lmp_processor_seconds_since_commit",
        "lmp_processor_consumer_lag",
        "lmp_processor_outbox_backlog_events",
        "lmp_processor_ready",
    } <= queried
    exprs = " ".join(t["expr"] for p in dashboard_panels() for t in p["targets"])
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in exprs
    for outcome in (counters.PROCESSED, counters.REFUSED, counters.DEAD_LETTERED):
        assert f'outcome="{outcome}"' in exprs
