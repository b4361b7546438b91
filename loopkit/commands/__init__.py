"""Sub-commands of the ``loopkit`` command line, one module per stage; each defines ``register(subparsers)``.

A handler is set with ``parser.set_defaults(handler=fn)``; ``fn(args)`` returns the exit status. Handlers check
their flags and raise ``UserError`` (naming the flag) for bad ones; the library raises ``loopkit.errors.
LoopkitError`` for bad input (in its own words). The CLI prints either, and ``FileNotFoundError``, as one line;
anything else keeps its traceback.
"""


class UserError(Exception):
    """Bad command-line input (a flag's value): printed as one line, without a traceback."""
