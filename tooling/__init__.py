"""Development tooling, outside the product: the embedded Kafka (one broker or a cluster)
and database server, the ``up`` supervisor, and the demo.

A production install leaves this package out (it is its own distribution,
``tooling/pyproject.toml``); it uses the product only through its public surfaces
(``services.bootstrap``, the settings, the processors' registry, the API's key helper).
"""
