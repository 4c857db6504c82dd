"""``lmp-billing demo``: a realistic month played against the running system.

It publishes what the account directory, Trend Micro, upstream provisioning, partners and
distributors send in a month, waits on what the processors make of it (their events, the
database, the read API: conditions, never fixed sleeps) and prints what the read API then
shows. Every id carries a run tag (``DEMO-<tag>-P007``), so runs never collide and one
run's reports are one partner search away (``?partner=DEMO-<tag>``).

``plan`` draws the month, ``messages`` and ``actions`` write it as CloudEvents, ``player``
plays it phase by phase with ``observer`` and ``read_api`` watching, ``run`` wires the
servers, ``summary`` prints the outcome and ``command`` is the console entry.
"""

from tooling.demo.command import main, register

__all__ = ["main", "register"]
