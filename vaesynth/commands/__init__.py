"""One module per `vaesynth` subcommand: `register(subparsers) -> parser` and `run(args) -> int`."""
