"""The library's one exception for bad input (``LoopkitError``), and the one description of what differs between a
stored artefact and the one asked for (``differences``), which the refusals of a resumed run print."""

from __future__ import annotations

from typing import Iterable, Mapping


class LoopkitError(ValueError):
    """Bad input to a loopkit function: a value out of range, a file that is not what it should be, a folder that
    holds something else.

    The message is one line in the library's own words (parameter names, never a command-line flag). The
    ``loopkit`` command line prints it as ``loopkit CMD: error: ...`` without a traceback; any other exception
    is a bug and keeps its traceback. It subclasses ``ValueError``, so ``except ValueError`` still catches it.
    """


def differences(old: Mapping, new: Mapping, keys: Iterable[str] | None = None, ignore: Iterable[str] = (),
                prefix: str = "") -> list[str]:  # fmt: skip
    """What differs between two nested dicts, as ``"a.b: old -> new"`` strings in sorted key order.

    Nested dicts are compared key by key (``"settings.rules.stride_bars: 1 -> 2"``). ``keys`` restricts the
    comparison to these top-level keys (default: every key of either dict); ``ignore`` names keys that are never
    compared, top-level (e.g. a data set's path, which may move) or nested, dotted (``"train_config.compile"``).
    """
    names = sorted(set(old) | set(new)) if keys is None else sorted(keys)
    skip = set(ignore)
    out: list[str] = []
    for key in names:
        if f"{prefix}{key}" in skip:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, ignore=skip, prefix=f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out
