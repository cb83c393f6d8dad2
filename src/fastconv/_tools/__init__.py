"""The tooling around the library, apart from it: the ``fastconv`` command
(cli), the benchmark runner it and bench/ share (bench) and the canonical
workloads (workloads)."""
