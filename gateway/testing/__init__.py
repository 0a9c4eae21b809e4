"""Test support shipped with the package, so outside adapter authors can run the same suite."""

from gateway.testing.conformance import ConformanceSetup, ProviderConformance

__all__ = ["ConformanceSetup", "ProviderConformance"]
