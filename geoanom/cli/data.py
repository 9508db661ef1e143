"""CLI commands: data (filled in by its issue)."""

commands: list = []
