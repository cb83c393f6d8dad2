"""The canonical workloads live in the package (fastconv._tools.workloads), shared
with the `fastconv bench` command; the benchmarks import them from here."""
from fastconv._tools.workloads import BANDWIDTH, CONV, FILTER, POOL, RECURRENT  # noqa: F401
