"""A local Kafka cluster of three (or more) KRaft nodes, each a broker and a controller.

The single broker cannot show what replication buys: with one node, losing it stops
everything. Here every node is a ``KafkaServer`` from the same cached jars, with its own
data directory and ports, one shared cluster id and the whole controller quorum, so one
node can be killed (SIGKILL) and started again on the same data while the others carry
on. Topics are meant to be replicated three times with ``min.insync.replicas=2``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tooling.infra.kafka_server import KafkaServer, _random_cluster_id
from tooling.infra.process import InfraError

# Three JVMs share a small machine with the processors and the database server.
_NODE_HEAP = ("-Xms128m", "-Xmx384m")


class KafkaCluster:
    """Start, wait for, stop, kill and restart the nodes of one local cluster."""

    def __init__(
        self,
        cache_dir: Path,
        data_dir: Path,
        ports: list[tuple[int, int]],
    ) -> None:
        """``ports``: (listener, controller) of each node; its length is the cluster's size."""
        if len(ports) < 3:
            raise InfraError(f"a cluster needs at least 3 nodes to lose one, not {len(ports)}")
        self.data_dir = Path(data_dir).resolve()
        voters = ",".join(
            f"{node_id}@127.0.0.1:{controller}"
            for node_id, (_, controller) in enumerate(ports, start=1)
        )
        self.nodes = [
            KafkaServer(
                cache_dir,
                self.data_dir / f"node-{node_id}",
                port,
                controller,
                node_id=node_id,
                quorum_voters=voters,
                replication=3,
                heap=_NODE_HEAP,
            )
            for node_id, (port, controller) in enumerate(ports, start=1)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def node(self, node_id: int) -> KafkaServer:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise InfraError(f"no node {node_id} in this cluster")

    def install(self) -> None:
        self.nodes[0].install()

    def start(self) -> None:
        """Spawn every node that is not running (they elect a controller among themselves)."""
        self.install()
        cluster_id = self._cluster_id()
        for node in self.nodes:
            node.new_cluster_id = cluster_id
            if not node.running():
                node.start()

    def wait_ready(self, timeout: float = 120.0) -> None:
        for node in self.nodes:
            node.wait_ready(timeout)

    def stop(self) -> None:
        """Stop every node at once: stopped one by one, the last would wait out its
        shutdown timeout for a controller quorum that is already gone."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(KafkaServer.stop, self.nodes))

    def running(self) -> bool:
        return all(node.running() for node in self.nodes)

    def kill(self, node_id: int) -> None:
        """SIGKILL one node; the others keep serving."""
        self.node(node_id).kill()

    def restart(self, node_id: int, timeout: float = 120.0) -> None:
        """Start a stopped or killed node again on its own data and wait until it serves."""
        node = self.node(node_id)
        node.new_cluster_id = self._cluster_id()
        node.start()
        node.wait_ready(timeout)

    def _cluster_id(self) -> str:
        """The id the nodes were formatted with, else a new one kept beside them.

        Kept in a file so that a node formatted later (its data directory removed) joins
        the same cluster instead of starting one of its own.
        """
        path = self.data_dir / "cluster.id"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = _random_cluster_id()
        path.write_text(cluster_id + "\n")
        return cluster_id
