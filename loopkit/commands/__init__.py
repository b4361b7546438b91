"""Sub-commands of the ``loopkit`` command line, one module per stage; each defines ``register(subparsers)``.

A handler is set with ``parser.set_defaults(handler=fn)``; ``fn(args)`` returns the exit status. Raise
``ValueError``/``FileNotFoundError``/``loopkit.cli.UserError`` for bad input: the CLI prints one line.
"""
