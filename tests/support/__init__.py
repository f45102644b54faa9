"""Helpers shared by the tests and the benchmarks: loopback servers, worker tasks."""
