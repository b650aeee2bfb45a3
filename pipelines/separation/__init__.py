"""Separate source and channel coding baselines as pipeline stages (jscc_core.digital)."""
