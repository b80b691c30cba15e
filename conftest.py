"""Shared pytest fixtures. Each pillar owns one fixture module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.openstack_lab",
    "tests.fixtures.lab_hosts",
]
