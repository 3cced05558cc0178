"""Developer tools, not part of the runtime: the sample generators behind `wenulake landing generate` /
`generate-workorders`, the tests and the benchmarks. Left out of the executors' package archive
(wenulake.executor_package)."""
