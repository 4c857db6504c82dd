"""The metrics port of each processor `lmp-billing up` starts (``LMP_METRICS_PORT``).

``LMP_METRICS_PORT`` set for ``up`` is the first port, one more per process in start
order; ``0`` turns the processors' metrics servers off; unset, each process gets a free
port. ``up`` prints where each one serves ``/metrics`` and ``/ready``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from tooling.infra.process import free_port

VAR = "LMP_METRICS_PORT"


def assign(handles: Sequence[str], environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Handle -> its port (0: off)."""
    given = environ.get(VAR, "").strip()
    if given == "0":
        return dict.fromkeys(handles, 0)
    if given:
        base = int(given)
        return {handle: base + n for n, handle in enumerate(handles)}
    return {handle: free_port() for handle in handles}
