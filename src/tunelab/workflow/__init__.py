"""Plain functions behind the CLI commands: each stage of the pipeline, callable from Python."""
