"""CLI commands: detector (filled in by its issue)."""

commands: list = []
