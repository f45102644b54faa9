"""Loopback servers (DNS, SMTP) shared by the tests and the benchmarks."""
