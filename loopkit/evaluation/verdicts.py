"""How ``loopkit.evaluation.claims`` decides a verdict with sampling noise in view: the four verdicts, the noise-aware
comparison of two table rows (their bootstrap replicates, ``loopkit.evaluation.uncertainty``), how comparisons combine
into a verdict, and the memorisation guard of claims about generated loops.

A claim is a set of comparisons, each "as the paper says" beyond noise (True), "the opposite" beyond noise (False)
or within noise (None): ``combine`` gives "holds" when every comparison is True, "does not hold" when any is False,
"within noise" otherwise. Rows that are mostly training copies make a claim about generation "not testable here"
(``guarded``).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from loopkit.evaluation.table_format import BOOTSTRAP, COPIES, format_metric
from loopkit.evaluation.uncertainty import LEVEL, Estimate, difference, estimate, side

HOLDS, FAILS, NOISE, UNTESTABLE = "holds", "does not hold", "within noise", "not testable here"
#: A claim that compares a model which has not learnt its training set (``LEARNT``): the build's budget, not the
#: method, would decide it.
BUDGET = "not testable at this budget"
#: Every verdict, in the order a reader weighs them.
VERDICTS = (HOLDS, NOISE, FAILS, BUDGET, UNTESTABLE)
#: A model has learnt its training set when it removes at least this share of the empty output's error on its own
#: training loops (Table 1's ``train_removed``). Measured on this project's builds: at the cpu profile's budget the
#: VQ-VAE removes 59 % and reconstructs a first-step bass in 85 of 100 training loops, while the LSTM VAEs remove
#: 10 % and reconstruct no bass at all (FNB 0.00); trained 20-40 times longer (records/long) they remove 26-33 %.
#: Half is the line between a model that reproduces its loops and one that does not.
LEARNT = 0.5
#: A row of generated loops more than this share of which are training loops, cell for cell (``copies``,
#: ``loopkit.metrics.memorisation``), shows the training set, not generation: a claim resting on it is not tested.
MEMORISED = 0.5
#: The words every interval is given with.
INTERVAL_WORDS = f"{LEVEL:.0%} bootstrap interval"


def cell(frame: pd.DataFrame, label, column: str, key: str = "model") -> float:
    """The number in ``column`` of the row whose ``key`` is ``label``; NaN when there is no such row or column."""
    if column not in frame or key not in frame:
        return math.nan
    rows = frame.loc[frame[key] == label, column]
    return float(rows.iloc[0]) if len(rows) else math.nan


def has_row(frame: pd.DataFrame, label, key: str = "model") -> bool:
    return key in frame and bool((frame[key] == label).any())


def replicates(frame: pd.DataFrame, label, column: str):
    """The bootstrap replicates of a row's column (``attrs[BOOTSTRAP]``), or None."""
    return ((frame.attrs.get(BOOTSTRAP) or {}).get(str(label)) or {}).get(column)


def value(frame: pd.DataFrame, label, column: str, key: str = "model", rep_label=None) -> Estimate:
    """A row's number with its interval (``rep_label``: the row's key in the replicates, default ``label``)."""
    reps = replicates(frame, label if rep_label is None else rep_label, column)
    return estimate(cell(frame, label, column, key), reps)


def diff(fa: pd.DataFrame, la, fb: pd.DataFrame, lb, column: str, key: str = "model", rep_a=None,
         rep_b=None) -> Estimate:  # fmt: skip
    """Row ``la`` of ``fa`` minus row ``lb`` of ``fb`` in ``column``, with the interval of their replicates'
    differences (``loopkit.evaluation.uncertainty.difference``)."""
    ra = replicates(fa, la if rep_a is None else rep_a, column)
    rb = replicates(fb, lb if rep_b is None else rep_b, column)
    return difference(cell(fa, la, column, key), ra, cell(fb, lb, column, key), rb)


def check(est: Estimate, claimed: str, threshold: float = 0.0) -> bool | None:
    """True when ``est`` lies beyond noise on the ``claimed`` side ("above" or "below") of ``threshold``, False on
    the other side, None within noise; None too when ``est`` is NaN (a number the tables lack)."""
    if math.isnan(est.value):
        return None
    where = side(est, threshold)
    return None if where == NOISE else where == claimed


def combine(results: Iterable[bool | None]) -> str:
    """"holds" when every comparison is as claimed beyond noise, "does not hold" when any is the opposite beyond
    noise, "within noise" otherwise."""
    results = list(results)
    if any(r is False for r in results):
        return FAILS
    return HOLDS if results and all(r is True for r in results) else NOISE


def combine_verdicts(verdicts: Iterable[str]) -> str:
    """A claim made of other claims: "not testable here" if any part is, else "not testable at this budget" if any
    part is, else as ``combine`` over the parts."""
    verdicts = list(verdicts)
    for untestable in (UNTESTABLE, BUDGET):
        if untestable in verdicts:
            return untestable
    return combine(True if v == HOLDS else False if v == FAILS else None for v in verdicts)


def sci(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.2e}"


def pct(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.0%}"


def number(x: float) -> str:
    """A metric as Tables 3 and 4 print it (``loopkit.evaluation.table_format.format_metric``)."""
    return format_metric(x)


def interval_text(parts: Mapping[str, Estimate], fmt=number) -> str:
    """"name: +1.20e-03 [+0.90e-03, +1.50e-03]; ..." for each named difference."""
    return "; ".join(f"{name}: {est.text(fmt, signed=True)}" for name, est in parts.items())


def outcome_text(results: Mapping[str, bool | None], claimed: str, opposite: str) -> str:
    """Which comparisons went which way: '' when all are as claimed, else e.g. "X, Y: the opposite (...) beyond
    noise; Z: within noise"."""
    wrong = [k for k, r in results.items() if r is False]
    noisy = [k for k, r in results.items() if r is None]
    parts = []
    if wrong:
        parts.append(f"{', '.join(wrong)}: {opposite}, beyond noise")
    if noisy:
        parts.append(f"{', '.join(noisy)}: within noise")
    return "; ".join(parts)


def join(*reasons: str) -> str:
    """Reasons as one sentence: capitalised, joined by semicolons, a full stop; "Reason not known." if none."""
    text = "; ".join(r for r in reasons if r)
    return (text[0].upper() + text[1:] + ".") if text else "Reason not known."


def copies(frame: pd.DataFrame, labels: list[str]) -> str:
    """'' unless some of the rows ``labels`` are mostly copies of training loops (more than ``MEMORISED``)."""
    if COPIES not in frame:
        return ""
    copied = [m for m in labels if has_row(frame, m) and cell(frame, m, COPIES) > MEMORISED]
    if not copied:
        return ""
    shares = ", ".join(f"{m} {pct(cell(frame, m, COPIES))}" for m in copied)
    return f"the samples are mostly copies of training loops ({shares} of them), so they show the training set"


def copies_note(frame: pd.DataFrame, labels: list[str]) -> str:
    """"; copies of training loops: VQ-VAE (temp 1) 3%" for the rows that have the memorisation check."""
    shown = [m for m in labels if has_row(frame, m) and COPIES in frame and not np.isnan(cell(frame, m, COPIES))]
    if not shown:
        return ""
    return "; copies of training loops: " + ", ".join(f"{m} {pct(cell(frame, m, COPIES))}" for m in shown)


def guarded(claim: dict, *frames_and_rows) -> dict:
    """A claim about generated loops, with its verdict withdrawn ("not testable here") when the rows it rests on
    are mostly training copies (``copies``); the reason says so."""
    reasons = [copies(frame, rows) for frame, rows in frames_and_rows]
    copied = "; ".join(r for r in reasons if r)
    if copied:
        claim["holds"] = UNTESTABLE
        claim["why"] = join(copied)
    return claim


def unlearnt(t1: pd.DataFrame, models: Iterable[str]) -> list[str]:
    """The ``models`` (Table 1 labels) that remove less than ``LEARNT`` of the empty output's error on their own
    training loops (Table 1's ``train_removed``); a model the table lacks is not judged here."""
    return [m for m in models if has_row(t1, m) and cell(t1, m, "train_removed") < LEARNT]


def learning_text(t1: pd.DataFrame, models: Iterable[str]) -> str:
    """"AR LSTM-VAE 10 % (412 optimizer steps), ..." for each of ``models`` in Table 1."""

    def one(m: str) -> str:
        steps = cell(t1, m, "steps")
        where = "" if math.isnan(steps) else f" ({int(steps):,} optimizer steps)"
        return f"{m} {pct(cell(t1, m, 'train_removed'))}{where}"

    return ", ".join(one(m) for m in models if has_row(t1, m))


def without(frame: pd.DataFrame, labels: Iterable[str], key: str = "model") -> pd.DataFrame:
    """``frame`` without the rows whose ``key`` is one of ``labels``, its bootstrap replicates (``attrs``) kept."""
    out = frame[~frame[key].isin(list(labels))].reset_index(drop=True)
    out.attrs = dict(frame.attrs)
    return out


def budget_guarded(claim: dict, t1: pd.DataFrame | None, models: Iterable[str], rejudge=None) -> dict:
    """A claim that compares ``models`` (Table 1 labels), with its verdict withdrawn ("not testable at this budget")
    when one of them has not learnt its training set (``unlearnt``): the reason names each such model's share of
    the empty output's error removed on its training loops, what the rule gives on the tables as they stand and,
    with ``rejudge`` (a function of the unlearnt labels that judges the claim again without them), what it gives on
    the models that learnt alone. A claim already not testable here (copies, no panel) keeps that verdict."""
    if t1 is None or claim["holds"] == UNTESTABLE:
        return claim
    models = list(models)
    low = unlearnt(t1, models)
    if not low:
        return claim
    judged = claim["holds"]
    claim["holds"] = BUDGET
    reasons = [
        f"{learning_text(t1, low)} of the empty output's error removed on {'its' if len(low) == 1 else 'their'} own "
        f"training loops, under the {LEARNT:.0%} of a model that has learnt them (chapter 2 shows where each stopped)",
        f"on these tables as they stand the rule gives \"{judged}\""]
    learnt = [m for m in models if m not in low and has_row(t1, m)]
    if rejudge is not None and len(learnt) >= 2:
        again = rejudge(low)
        reasons.append(f"on the models that learnt alone ({', '.join(learnt)}) it gives \"{again['holds']}\""
                       + (f" ({again['why'].rstrip('.')})" if again["holds"] != HOLDS and again["why"] else ""))
    claim["why"] = join(*reasons)
    return claim
