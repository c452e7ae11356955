"""Shared constants for the telemetry tests (a uniquely named module: tests dirs are not packages)."""
T0 = 1_800_000_000.0  # a fixed unix time on a minute boundary, so tests never read the clock
