"""CLI commands: dlep (filled in by its issue)."""

commands: list = []
