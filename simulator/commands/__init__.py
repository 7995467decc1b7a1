"""One module per `cascade` subcommand; each has `add_parser(subparsers)` and `run(args) -> exit status`."""
