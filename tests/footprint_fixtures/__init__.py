"""Modules the automatic-footprint tests import: some instrumented on request, one never."""
