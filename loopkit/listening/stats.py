"""Statistics of the paper's listening test (Listening Test, Figure 6): group summaries, Kruskal-Wallis, post-hoc tests.

A ratings table has one row per rating with the columns ``listener``, ``stimulus``, ``group`` and ``rating``
(1..5), as ``loopkit listen export`` writes it. Every result carries a ``simulated`` flag (a column, or an
attribute of ``KruskalResult``) that is True when the ratings come from ``simulate_panel`` and not from people,
so a page can say so beside every number.

The paper reports Kruskal-Wallis H = 75.19 (p < 0.001) over five groups and only two group means (training set
3.83, VQ-VAE 3.52; ``loopkit.paper.LISTENING_TEST``). When no real panel exists, ``simulate_panel`` draws one
from fixed, documented group means (``SIMULATED_MEANS``: the paper's two, and one invented mean for the three
continuous VAEs that fits its H); ``describe_simulation`` says in plain words how.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from loopkit.errors import LoopkitError
from loopkit.paper import LISTENING_TEST
from loopkit.outputs.plots import new_figure

REQUIRED_COLUMNS = ("listener", "stimulus", "group", "rating")
SCALE = tuple(range(LISTENING_TEST["scale"][0], LISTENING_TEST["scale"][1] + 1))  # 1..5
SIMULATED_LABEL = "simulated panel"
MEASURED_LABEL = "real panel"


# ---------------------------------------------------------------------------------------------------------
# the ratings table


def check_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Validate a ratings table: the required columns, whole ratings within 1..5, at least one row."""
    missing = [c for c in REQUIRED_COLUMNS if c not in ratings.columns]
    if missing:
        raise LoopkitError(f"the ratings table lacks the column(s) {', '.join(missing)}")
    if len(ratings) == 0:
        raise LoopkitError("the ratings table is empty")
    values = pd.to_numeric(ratings["rating"], errors="coerce")
    bad = values.isna() | (values != values.round()) | (values < SCALE[0]) | (values > SCALE[-1])
    if bad.any():
        raise LoopkitError(
            f"{int(bad.sum())} rating(s) are not whole numbers in {SCALE[0]}..{SCALE[-1]}, "
            f"e.g. {ratings.loc[bad, 'rating'].iloc[0]!r}"
        )
    out = ratings.copy()
    out["rating"] = values.astype(int)
    out["group"] = out["group"].astype(str)
    out["listener"] = out["listener"].astype(str)
    out["stimulus"] = out["stimulus"].astype(str)
    if "simulated" in out.columns:
        out["simulated"] = out["simulated"].astype(str).str.lower().isin(("true", "1"))
    out.attrs = dict(ratings.attrs)
    return out


def load_ratings(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ratings CSV (``loopkit listen export``, or a simulated panel written with ``to_csv``) and check it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no ratings file at {path}")
    return check_ratings(pd.read_csv(path, keep_default_na=False, dtype={"listener": str, "stimulus": str}))


def is_simulated(ratings: pd.DataFrame) -> bool:
    """True when any rating of the table was simulated (``simulate_panel``), not given by a listener."""
    if ratings.attrs.get("simulated"):
        return True
    return "simulated" in ratings.columns and bool(ratings["simulated"].astype(bool).any())


def data_label(ratings: pd.DataFrame) -> str:
    """"simulated panel" or "real panel": the words to print beside a number computed from ``ratings``."""
    return SIMULATED_LABEL if is_simulated(ratings) else MEASURED_LABEL


def group_order(ratings: pd.DataFrame, groups: Sequence[str] | None = None) -> list[str]:
    """The groups to analyse: ``groups`` if given (each must occur), else the paper's order, then any others."""
    present = list(dict.fromkeys(ratings["group"].astype(str)))
    if groups is not None:
        groups = [str(g) for g in groups]
        absent = [g for g in groups if g not in present]
        if absent:
            raise LoopkitError(f"no ratings for the group(s) {', '.join(absent)}; present: {', '.join(present)}")
        return groups
    paper = [g for g in LISTENING_TEST["groups"] if g in present]
    return paper + [g for g in present if g not in paper]


def _samples(ratings: pd.DataFrame, groups: Sequence[str]) -> list[np.ndarray]:
    return [ratings.loc[ratings["group"] == g, "rating"].to_numpy(dtype=float) for g in groups]


# ---------------------------------------------------------------------------------------------------------
# per group


def t_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean: ``mean -+ t_{(1+level)/2, n-1} * sd / sqrt(n)``."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 2:
        return (float("nan"), float("nan"))
    half = stats.t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
    return (float(x.mean() - half), float(x.mean() + half))


def cluster_bootstrap_interval(
    values: np.ndarray, clusters: np.ndarray, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling whole clusters (listeners) with replacement.

    A listener's ratings are correlated (some listeners rate everything higher), so resampling listeners
    rather than single ratings gives an honest interval for a panel of people.
    """
    values = np.asarray(values, dtype=float)
    codes, uniques = pd.factorize(np.asarray(clusters))
    k = len(uniques)
    sums = np.bincount(codes, weights=values, minlength=k)
    counts = np.bincount(codes, minlength=k).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, k, size=(n_boot, k))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))


def group_summary(
    ratings: pd.DataFrame,
    groups: Sequence[str] | None = None,
    level: float = 0.95,
    method: str = "t",
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per group: n, listeners, mean, median, standard deviation and a confidence interval of the mean.

    Parameters
    ----------
    ratings : the ratings table
    groups : the groups and their order (default: ``group_order``)
    level : confidence level of the interval
    method : "t" (Student-t over the ratings) or "bootstrap" (percentile, resampling listeners)
    n_boot, seed : bootstrap draws and their seed

    Returns
    -------
    DataFrame with columns group, n, listeners, mean, median, sd, ci_low, ci_high, ci, paper_mean (the paper's
    published mean, NaN where it published none), simulated
    """
    if method not in ("t", "bootstrap"):
        raise LoopkitError(f"method must be 't' or 'bootstrap', got {method!r}")
    ratings = check_ratings(ratings)
    groups = group_order(ratings, groups)
    rows = []
    for g in groups:
        sel = ratings[ratings["group"] == g]
        x = sel["rating"].to_numpy(dtype=float)
        if method == "t":
            lo, hi = t_interval(x, level)
        else:
            lo, hi = cluster_bootstrap_interval(x, sel["listener"].to_numpy(), level, n_boot, seed)
        rows.append(
            {
                "group": g,
                "n": len(x),
                "listeners": sel["listener"].nunique(),
                "mean": float(x.mean()),
                "median": float(np.median(x)),
                "sd": float(x.std(ddof=1)) if len(x) > 1 else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
                "ci": f"{level:.0%} {'t' if method == 't' else 'listener bootstrap'}",
                "paper_mean": LISTENING_TEST["means"].get(g, float("nan")),
                "simulated": is_simulated(ratings),
            }
        )
    return pd.DataFrame(rows)


def paper_means() -> pd.DataFrame:
    """The paper's listening test as published: each of its five groups with the mean rating the paper's text gives
    (NaN where only Figure 6 prints it: that figure's image is not in the text this reproduction works from, and the
    values could not be found elsewhere; they are never estimated), and where each number comes from."""
    means = LISTENING_TEST["means"]
    return pd.DataFrame(
        {
            "group": list(LISTENING_TEST["groups"]),
            "paper's mean rating": [means.get(g, float("nan")) for g in LISTENING_TEST["groups"]],
            "source": ["the paper's text (Listening Test)" if g in means else
                       "printed above its box in Figure 6 only: not recovered" for g in LISTENING_TEST["groups"]],
        }
    )


# ---------------------------------------------------------------------------------------------------------
# Kruskal-Wallis


@dataclass(frozen=True)
class KruskalResult:
    """Kruskal-Wallis H test over the groups (tie-corrected H, chi-square p with ``df`` degrees of freedom)."""

    h: float
    p: float
    df: int
    n: int
    groups: tuple[str, ...]
    simulated: bool

    @property
    def label(self) -> str:
        """E.g. "H = 75.19, p < 0.001 (simulated panel)"."""
        p = "p < 0.001" if self.p < 0.001 else f"p = {self.p:.3f}"
        return f"H = {self.h:.2f}, {p} ({SIMULATED_LABEL if self.simulated else MEASURED_LABEL})"


def kruskal_wallis(ratings: pd.DataFrame, groups: Sequence[str] | None = None) -> KruskalResult:
    """Kruskal-Wallis H test (the paper's test: non-parametric one-way ANOVA on ranks).

    ``H = [12 / (N (N+1)) * sum_g R_g^2 / n_g - 3 (N+1)] / [1 - sum_v (t_v^3 - t_v) / (N^3 - N)]`` with ``R_g`` the
    rank sum of group g among all N ratings (ties get mid-ranks, ``t_v`` ratings share value v); p is the
    chi-square survival function of H with (groups - 1) degrees of freedom. Computed by ``scipy.stats.kruskal``.
    """
    from scipy import stats

    ratings = check_ratings(ratings)
    groups = group_order(ratings, groups)
    if len(groups) < 2:
        raise LoopkitError("Kruskal-Wallis needs at least two groups")
    samples = _samples(ratings, groups)
    if np.unique(np.concatenate(samples)).size < 2:
        raise LoopkitError("every rating is the same: Kruskal-Wallis H is undefined")
    h, p = stats.kruskal(*samples)
    return KruskalResult(float(h), float(p), len(groups) - 1, int(sum(map(len, samples))), tuple(groups),
                         is_simulated(ratings))  # fmt: skip


def kruskal_from_counts(counts: np.ndarray) -> np.ndarray:
    """Tie-corrected Kruskal-Wallis H from rating counts, vectorised over leading axes.

    Parameters
    ----------
    counts : (..., g, v) number of ratings of each value v (in increasing order) in each group g

    Returns
    -------
    (...) H, equal to ``scipy.stats.kruskal`` on the ratings the counts describe
    """
    counts = np.asarray(counts, dtype=float)
    per_value = counts.sum(axis=-2)  # (..., v)
    n_total = per_value.sum(axis=-1)  # (...)
    before = np.cumsum(per_value, axis=-1) - per_value
    midrank = before + (per_value + 1) / 2  # (..., v)
    rank_sums = (counts * midrank[..., None, :]).sum(axis=-1)  # (..., g)
    n_group = counts.sum(axis=-1)
    h = 12 / (n_total * (n_total + 1)) * (rank_sums**2 / n_group).sum(axis=-1) - 3 * (n_total + 1)
    ties = 1 - (per_value**3 - per_value).sum(axis=-1) / (n_total**3 - n_total)
    return h / ties


def group_differences(ratings: pd.DataFrame, reference: str | None = None, groups: Sequence[str] | None = None,
                      level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """The ``reference`` group's mean rating minus each other group's, with a percentile bootstrap interval that
    resamples whole listeners (their ratings are correlated), as ``loopkit.evaluation.claims`` judges the listening
    test.

    Parameters
    ----------
    reference : default the paper's VQ-VAE group (temperature 1.2), the last of its groups

    Returns
    -------
    DataFrame with columns group, difference, low, high (one row per other group); ``attrs``: ``reference``,
    ``kruskal_p`` (Kruskal-Wallis over all groups), ``simulated``
    """
    ratings = check_ratings(ratings)
    groups = group_order(ratings, groups)
    reference = reference or LISTENING_TEST["groups"][-1]
    if reference not in groups:
        raise LoopkitError(f"no ratings for the reference group {reference}; present: {', '.join(groups)}")
    listeners, who = np.unique(ratings["listener"].to_numpy(), return_inverse=True)
    which = pd.Categorical(ratings["group"], categories=groups).codes
    sums = np.zeros((len(listeners), len(groups)))
    counts = np.zeros((len(listeners), len(groups)))
    np.add.at(sums, (who, which), ratings["rating"].to_numpy(dtype=float))
    np.add.at(counts, (who, which), 1.0)
    draws = np.random.default_rng(seed).integers(0, len(listeners), size=(n_boot, len(listeners)))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)  # (n_boot, groups)
    point = sums.sum(axis=0) / counts.sum(axis=0)
    r = groups.index(reference)
    rows = []
    for g, name in enumerate(groups):
        if g == r:
            continue
        lo, hi = np.nanquantile(means[:, r] - means[:, g], [(1 - level) / 2, (1 + level) / 2])
        rows.append({"group": name, "difference": float(point[r] - point[g]), "low": float(lo), "high": float(hi)})
    out = pd.DataFrame(rows)
    out.attrs.update(reference=reference, kruskal_p=kruskal_wallis(ratings, groups).p, simulated=is_simulated(ratings))
    return out


# ---------------------------------------------------------------------------------------------------------
# post-hoc


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: ``p_(i) * (m - i + 1)`` in ascending order, made monotone, capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float:
    """Cliff's delta: ``(#(a_i > b_j) - #(a_i < b_j)) / (n_a n_b)``, from -1 (b always higher) to 1.

    It equals the rank-biserial correlation ``2 U_a / (n_a n_b) - 1`` of the Mann-Whitney test.
    """
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    if not len(a) or not len(b):
        raise LoopkitError("Cliff's delta needs two non-empty samples")
    greater = np.searchsorted(b, a, side="left").sum()  # b_j < a_i
    less = (len(b) - np.searchsorted(b, a, side="right")).sum()  # b_j > a_i
    return float((greater - less) / (len(a) * len(b)))


def dunn_z(samples: Sequence[np.ndarray]) -> np.ndarray:
    """Dunn's z for every pair of groups from the pooled mid-ranks (tie-corrected): ``(g, g)`` array.

    ``z_ij = (Rbar_i - Rbar_j) / sqrt((N (N+1) / 12 - sum (t^3 - t) / (12 (N-1))) (1/n_i + 1/n_j))``.
    """
    from scipy import stats

    pooled = np.concatenate(samples)
    n_total = len(pooled)
    ranks = stats.rankdata(pooled)
    _, ties = np.unique(pooled, return_counts=True)
    var = n_total * (n_total + 1) / 12 - (ties**3 - ties).sum() / (12 * (n_total - 1))
    bounds = np.cumsum([0] + [len(s) for s in samples])
    mean_rank = np.array([ranks[bounds[i] : bounds[i + 1]].mean() for i in range(len(samples))])
    sizes = np.array([len(s) for s in samples], dtype=float)
    diff = mean_rank[:, None] - mean_rank[None, :]
    return diff / np.sqrt(var * (1 / sizes[:, None] + 1 / sizes[None, :]))


def pairwise_tests(
    ratings: pd.DataFrame,
    groups: Sequence[str] | None = None,
    method: str = "mannwhitney",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Post-hoc tests for every pair of groups, Holm-corrected, with Cliff's delta as effect size.

    Parameters
    ----------
    method : "mannwhitney" (two-sided Mann-Whitney U, normal approximation with tie and continuity correction;
        ``statistic`` is U of ``group_a``) or "dunn" (Dunn's test on the Kruskal-Wallis ranks; ``statistic`` is z)
    alpha : family-wise level for the ``significant`` column

    Returns
    -------
    DataFrame with columns group_a, group_b, n_a, n_b, mean_a, mean_b, test, statistic, p, p_holm, significant,
    cliffs_delta (positive: group_a rated higher), simulated
    """
    from scipy import stats

    if method not in ("mannwhitney", "dunn"):
        raise LoopkitError(f"method must be 'mannwhitney' or 'dunn', got {method!r}")
    ratings = check_ratings(ratings)
    groups = group_order(ratings, groups)
    samples = _samples(ratings, groups)
    z = dunn_z(samples) if method == "dunn" else None
    rows = []
    for i, j in combinations(range(len(groups)), 2):
        a, b = samples[i], samples[j]
        if method == "mannwhitney":
            res = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
            statistic, p = float(res.statistic), float(res.pvalue)
        else:
            statistic = float(z[i, j])
            p = float(2 * stats.norm.sf(abs(statistic)))
        rows.append(
            {
                "group_a": groups[i],
                "group_b": groups[j],
                "n_a": len(a),
                "n_b": len(b),
                "mean_a": float(a.mean()),
                "mean_b": float(b.mean()),
                "test": "Mann-Whitney U" if method == "mannwhitney" else "Dunn z",
                "statistic": statistic,
                "p": p,
                "cliffs_delta": cliffs_delta(a, b),
            }
        )
    out = pd.DataFrame(rows)
    out.insert(out.columns.get_loc("p") + 1, "p_holm", holm(out["p"].to_numpy()))
    out.insert(out.columns.get_loc("p_holm") + 1, "significant", out["p_holm"] < alpha)
    out["simulated"] = is_simulated(ratings)
    return out


# ---------------------------------------------------------------------------------------------------------
# Figure 6


def plot_ratings(ratings: pd.DataFrame, groups: Sequence[str] | None = None, ax=None, title: str | None = None):
    """Figure 6: a boxplot of the ratings per group; medians as green lines, means as red triangles with the value.

    Returns the matplotlib Figure. The default title says whether the panel is real or simulated.
    """
    ratings = check_ratings(ratings)
    groups = group_order(ratings, groups)
    samples = _samples(ratings, groups)
    if ax is None:
        fig = new_figure((1.6 * len(groups) + 1.5, 4.2))
        ax = fig.subplots()
    else:
        fig = ax.figure
    ax.boxplot(
        samples,
        showmeans=True,
        medianprops={"color": "green", "linewidth": 2},
        meanprops={"marker": "^", "markerfacecolor": "red", "markeredgecolor": "red", "markersize": 8},
        flierprops={"marker": "o", "markersize": 4, "alpha": 0.5},
    )
    ax.set_xticks(range(1, len(groups) + 1), groups, rotation=15)
    ax.set_xlabel("group of loops")
    for k, x in enumerate(samples, start=1):
        ax.annotate(f"{x.mean():.2f}", (k, x.mean()), xytext=(0, 7), textcoords="offset points", ha="center",
                    color="red", fontsize=9)  # fmt: skip
    ax.set_ylim(SCALE[0] - 0.5, SCALE[-1] + 0.5)
    ax.set_yticks(SCALE)
    ax.set_ylabel("rating (1 = not music, 5 = music)")
    if title is None:
        title = f"Listening test ratings ({data_label(ratings)})"
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------------------------------
# the simulated panel

#: The expected mean rating of each group in a simulated panel. The training set's and VQ-VAE's are the paper's
#: published means. The paper publishes none for the three continuous VAEs, so they share one invented mean,
#: fixed once so that a panel of the paper's size under ``PanelModel`` (20 listeners, 10 loops per group) has an
#: expected Kruskal-Wallis H near the paper's 75.19 (``tests/test_listening_stats.py`` checks it by simulating
#: 2,000 such panels). An assumption made to fit three published numbers, not a measurement.
CONTINUOUS_VAES_SIMULATED_MEAN = 3.14
SIMULATED_MEANS = {g: LISTENING_TEST["means"].get(g, CONTINUOUS_VAES_SIMULATED_MEAN) for g in LISTENING_TEST["groups"]}


@dataclass(frozen=True)
class PanelModel:
    """How ``simulate_panel`` draws ratings: ``rating = clip(round(mu_g + u_listener + v_loop + e), 1, 5)``.

    ``u ~ N(0, listener_sd^2)`` (some people rate everything higher), ``v ~ N(0, loop_sd^2)`` (some loops are
    better than others), ``e ~ N(0, noise_sd^2)``. The group level ``mu_g`` is the one whose expected rating is
    the group's ``SIMULATED_MEANS`` (``latent_level``). The defaults are assumptions, not facts from the paper.
    """

    listener_sd: float = 0.5
    loop_sd: float = 0.25
    noise_sd: float = 0.9

    @property
    def total_sd(self) -> float:
        return float(np.sqrt(self.listener_sd**2 + self.loop_sd**2 + self.noise_sd**2))


def expected_rating(mu: float, sd: float) -> float:
    """E[clip(round(mu + sd Z), 1, 5)] for standard normal Z: the mean rating a latent level mu produces."""
    from scipy import stats

    edges = np.array([SCALE[0] + 0.5 + k for k in range(len(SCALE) - 1)])  # 1.5, 2.5, 3.5, 4.5
    cdf = stats.norm.cdf((edges - mu) / sd)
    probs = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    return float(np.dot(probs, SCALE))


def latent_level(mean: float, sd: float) -> float:
    """The latent level mu whose expected rating (``expected_rating``) is ``mean`` (strictly inside 1..5)."""
    from scipy import optimize

    if not SCALE[0] < mean < SCALE[-1]:
        raise LoopkitError(f"a mean rating must lie strictly between {SCALE[0]} and {SCALE[-1]}, got {mean}")
    return float(optimize.brentq(lambda mu: expected_rating(mu, sd) - mean, -20, 30, xtol=1e-10))


def _draw_ratings(levels: np.ndarray, listeners: int, loops: int, model: PanelModel, rng) -> np.ndarray:
    """(listeners, groups, loops) integer ratings for group levels ``levels`` (groups,)."""
    levels = np.asarray(levels, dtype=float)
    u = rng.normal(0, model.listener_sd, size=(listeners, 1, 1))
    v = rng.normal(0, model.loop_sd, size=(1, len(levels), loops))
    e = rng.normal(0, model.noise_sd, size=(listeners, len(levels), loops))
    latent = levels[None, :, None] + u + v + e
    return np.clip(np.floor(latent + 0.5), SCALE[0], SCALE[-1]).astype(int)


def simulate_panel(
    seed: int = 0,
    listeners: int = LISTENING_TEST["listeners"],
    loops_per_group: int = LISTENING_TEST["loops_per_group"],
    model: PanelModel = PanelModel(),
) -> pd.DataFrame:
    """A simulated listening-test panel consistent with the paper's published numbers; every row flagged simulated.

    20 listeners rate 10 loops in each of the paper's 5 groups (1,000 ratings). Ratings follow ``PanelModel``
    with each group's expected mean rating from ``SIMULATED_MEANS`` (the paper's two published means, and one
    fixed, invented mean shared by the three continuous VAEs). One draw's means and H scatter around these
    expectations.

    Returns
    -------
    DataFrame with columns listener, stimulus, group, rating, time (empty), simulated (True); ``attrs`` holds
    ``simulated=True`` and the simulation's settings (used by ``describe_simulation``)
    """
    groups = list(LISTENING_TEST["groups"])
    levels = np.array([latent_level(SIMULATED_MEANS[g], model.total_sd) for g in groups])
    rng = np.random.default_rng(seed)
    ratings = _draw_ratings(levels, listeners, loops_per_group, model, rng)  # (l, g, s)
    li, gi, si = np.meshgrid(np.arange(listeners), np.arange(len(groups)), np.arange(loops_per_group), indexing="ij")
    df = pd.DataFrame(
        {
            "listener": [f"sim-listener-{i + 1:02d}" for i in li.ravel()],
            "stimulus": [f"sim-{g}-{s + 1:02d}" for g, s in zip(gi.ravel(), si.ravel())],
            "group": [groups[g] for g in gi.ravel()],
            "rating": ratings.ravel(),
            "time": "",
            "simulated": True,
        }
    )
    df.attrs = {
        "simulated": True,
        "simulation": {
            "seed": seed,
            "listeners": listeners,
            "loops_per_group": loops_per_group,
            "listener_sd": model.listener_sd,
            "loop_sd": model.loop_sd,
            "noise_sd": model.noise_sd,
            "expected_means": {g: SIMULATED_MEANS[g] for g in groups},
        },
    }
    return df


def describe_simulation(ratings: pd.DataFrame | None = None) -> str:
    """Plain words on how a simulated panel was made (from its ``attrs``, or the defaults when not given)."""
    sim = (ratings.attrs.get("simulation") if ratings is not None else None) or simulate_panel().attrs["simulation"]
    means = sim["expected_means"]
    groups = list(LISTENING_TEST["groups"])
    published = LISTENING_TEST["means"]
    continuous = [g for g in groups if g not in published]
    return (
        f"These ratings are simulated, not given by people. {sim['listeners']} simulated listeners each rate "
        f"{sim['loops_per_group']} loops of each of the paper's {len(groups)} groups. The paper publishes only "
        f"two group means ({', '.join(f'{g} {published[g]:.2f}' for g in published)}) and the Kruskal-Wallis "
        f"H = {LISTENING_TEST['kruskal_h']:.2f}. Each simulated rating is a group level plus a listener offset "
        f"(standard deviation {sim['listener_sd']}), a loop offset (standard deviation {sim['loop_sd']}) and "
        f"noise (standard deviation {sim['noise_sd']}), rounded to the nearest whole number and kept within "
        f"{SCALE[0]}..{SCALE[-1]}. The levels of the training set and VQ-VAE are set so that their expected mean "
        f"ratings are the paper's; the three continuous VAEs ({', '.join(continuous)}) share one invented expected "
        f"mean of {means[continuous[0]]:.2f}, fixed so that a panel of the paper's size has an expected H near "
        f"the paper's {LISTENING_TEST['kruskal_h']:.2f}. The paper does not say how the continuous VAEs differ "
        f"from each other, so the simulation does not invent a difference. Random seed {sim['seed']}: the means "
        f"and H of one simulated panel scatter around these expected values."
    )
