"""The metrics: the seed's families on one registry, what records them (HTTP, database, active
users, event loop), the ``/metrics`` endpoint and its exposition, and multiprocess mode."""
