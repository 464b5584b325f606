"""The `mlc` command line: thin Typer commands over `mlc.pipeline` and `mlc.models`."""
