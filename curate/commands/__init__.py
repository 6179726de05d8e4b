"""One small module per command group; each command builds a config and calls the stage's run()."""

__all__: list[str] = []
