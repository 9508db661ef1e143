"""CLI commands: significance (filled in by its issue)."""

commands: list = []
