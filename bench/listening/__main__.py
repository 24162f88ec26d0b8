"""``python -m bench.listening build|serve|...``: the same commands as ``python -m bench listening``,
without loading the rest of the harness's command line (it imports torch)."""

import argparse
import sys

from bench.listening.cli import add_parser


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.listening")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["listening", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
