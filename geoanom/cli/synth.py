"""CLI commands: synth (filled in by its issue)."""

commands: list = []
