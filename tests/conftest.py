"""Fixtures for every test: a test fails when a server it started logged an error
(tests/serverlogs.py); ``pytester`` for the tests of that rule."""

pytest_plugins = ["tests.serverlogs", "pytester"]
