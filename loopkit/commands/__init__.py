"""Sub-commands of the ``loopkit`` command line, one module per step of the paper, from Data Preprocess (``extract``)
to the Listening Test (``listen``); each defines ``register(subparsers)``.

A handler is set with ``parser.set_defaults(handler=fn)``; ``fn(args)`` returns the exit status. Handlers check
their flags and raise ``UserError`` (naming the flag) for bad ones; the library raises ``loopkit.errors.
LoopkitError`` for bad input (in its own words). The CLI prints either, and ``FileNotFoundError``, as one line;
anything else keeps its traceback.
"""


class UserError(Exception):
    """Bad command-line input (a flag's value): printed as one line, without a traceback."""


def report_written(count: int, silent: list[str], table: str, out) -> None:
    """The closing lines of a command that wrote loops: the loops left without OGG (nothing to hear), and where
    the loops and their table went."""
    if silent:
        print(f"  no OGG for {len(silent)} loop(s) with nothing to hear: {', '.join(silent)}")
    print(f"wrote {count} loop(s) and {table} to {out}")
