from bench.commands.cli import main

if __name__ == "__main__":  # worker processes (--executor local:N) import this module too
    raise SystemExit(main())
