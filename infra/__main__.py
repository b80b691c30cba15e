"""Pulumi entry point (Pulumi.yaml: main infra/). The catalog is validated first: with any problem
the program raises before a single resource is registered."""

from infra import program

program.run()
