"""Reusable test helpers (OTLP receiver, fixtures) shared by the test packages."""
