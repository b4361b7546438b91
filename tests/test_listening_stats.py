"""loopkit.listening.stats against values worked out by hand on a small table, and the simulated panel."""

import math

import numpy as np
import pandas as pd
import pytest

from loopkit.listening import stats
from loopkit.paper import LISTENING_TEST

# The small table: A = 1,2,3   B = 2,4,4   C = 3,5,5   (N = 9)
# Mid-ranks of 1,2,2,3,3,4,4,5,5: 1 | 2.5 2.5 | 4.5 4.5 | 6.5 6.5 | 8.5 8.5
# Rank sums: R_A = 1 + 2.5 + 4.5 = 8, R_B = 2.5 + 6.5 + 6.5 = 15.5, R_C = 4.5 + 8.5 + 8.5 = 21.5
# H0 = 12 / (9 * 10) * (8^2 + 15.5^2 + 21.5^2) / 3 - 3 * 10 = 61/15
# ties: four pairs, sum (t^3 - t) = 4 * 6 = 24; correction 1 - 24 / (9^3 - 9) = 29/30; H = 61/15 * 30/29 = 122/29
# p: the chi-square survival function with 2 degrees of freedom is exp(-H / 2)
HAND_H = 122 / 29
HAND_P = math.exp(-61 / 29)
SMALL = {"A": [1, 2, 3], "B": [2, 4, 4], "C": [3, 5, 5]}


def table(groups=SMALL, listeners=None) -> pd.DataFrame:
    rows = []
    for g, values in groups.items():
        for i, v in enumerate(values):
            who = listeners[i] if listeners else f"l{i}"
            rows.append({"listener": who, "stimulus": f"{g}{i}", "group": g, "rating": v, "time": ""})
    return pd.DataFrame(rows)


def test_kruskal_wallis_by_hand():
    result = stats.kruskal_wallis(table())
    assert result.h == pytest.approx(HAND_H, rel=1e-12)
    assert result.p == pytest.approx(HAND_P, rel=1e-9)
    assert (result.df, result.n, result.groups, result.simulated) == (2, 9, ("A", "B", "C"), False)
    assert result.label == f"H = {HAND_H:.2f}, p = {HAND_P:.3f} (real panel)"


def test_kruskal_from_counts_by_hand():
    # counts of the values 1..5 in each group of the small table
    counts = np.array([[1, 1, 1, 0, 0], [0, 1, 0, 2, 0], [0, 0, 1, 0, 2]])
    assert stats.kruskal_from_counts(counts) == pytest.approx(HAND_H, rel=1e-12)
    # vectorised over a leading axis
    np.testing.assert_allclose(stats.kruskal_from_counts(np.stack([counts, counts])), [HAND_H, HAND_H])


def test_group_summary_by_hand():
    summary = stats.group_summary(table()).set_index("group")
    assert summary.loc["A", "mean"] == pytest.approx(2.0)
    assert summary.loc["B", "mean"] == pytest.approx(10 / 3)
    assert summary.loc["C", "median"] == 5.0
    assert summary.loc["B", "median"] == 4.0
    assert summary.loc["A", "sd"] == pytest.approx(1.0)
    # A: 2 -+ t(0.975, 2) * 1 / sqrt(3), t(0.975, 2) = 4.303 from the t table
    half = 4.303 / math.sqrt(3)
    assert summary.loc["A", "ci_low"] == pytest.approx(2 - half, abs=1e-3)
    assert summary.loc["A", "ci_high"] == pytest.approx(2 + half, abs=1e-3)
    assert summary.loc["A", "n"] == 3 and summary.loc["A", "listeners"] == 3
    assert not summary["simulated"].any()
    assert summary["paper_mean"].isna().all()  # A, B, C are not the paper's groups


def test_cluster_bootstrap_by_hand():
    # two listeners: one rates 1, 1, the other 5, 5. Resampling two listeners gives a mean of 1 (p = 1/4),
    # 3 (p = 1/2) or 5 (p = 1/4); the 40 % interval (quantiles 0.3 and 0.7) is therefore [3, 3].
    values = np.array([1, 1, 5, 5])
    who = np.array(["x", "x", "y", "y"])
    assert stats.cluster_bootstrap_interval(values, who, level=0.4, n_boot=20_000) == (3.0, 3.0)
    lo, hi = stats.cluster_bootstrap_interval(values, who, level=0.95, n_boot=20_000)
    assert (lo, hi) == (1.0, 5.0)
    # identical listeners: no uncertainty; the same seed gives the same interval
    assert stats.cluster_bootstrap_interval(np.array([4, 4, 4]), np.array(["a", "b", "c"])) == (4.0, 4.0)
    df = table(listeners=["p", "q", "r"])
    s1 = stats.group_summary(df, method="bootstrap", seed=3)
    s2 = stats.group_summary(df, method="bootstrap", seed=3)
    pd.testing.assert_frame_equal(s1, s2)
    assert (s1["ci_low"] <= s1["mean"]).all() and (s1["mean"] <= s1["ci_high"]).all()
    with pytest.raises(ValueError, match="method"):
        stats.group_summary(df, method="jackknife")


def test_mann_whitney_and_cliffs_delta_by_hand():
    # A = 1,2,3 vs B = 2,4,4: A beats B in 1 pair (3 > 2), ties in 1 (2 = 2), loses in 7
    # U_A = 1 + 0.5 = 1.5; Cliff's delta = (1 - 7) / 9 = -2/3
    # normal approximation: mu = 9/2, ties in the pooled 1,2,2,3,4,4 are two pairs (sum t^3 - t = 12),
    # sigma^2 = 3 * 3 / 12 * (7 - 12 / (6 * 5)) = 4.95, z = (|1.5 - 4.5| - 0.5) / sqrt(4.95)
    z = 2.5 / math.sqrt(4.95)
    p = math.erfc(z / math.sqrt(2))
    res = stats.pairwise_tests(table()).set_index(["group_a", "group_b"])
    assert res.loc[("A", "B"), "statistic"] == pytest.approx(1.5)
    assert res.loc[("A", "B"), "p"] == pytest.approx(p, rel=1e-9)
    assert res.loc[("A", "B"), "cliffs_delta"] == pytest.approx(-2 / 3)
    assert stats.cliffs_delta([1, 2, 3], [2, 4, 4]) == pytest.approx(-2 / 3)
    assert stats.cliffs_delta([5, 5], [1, 2]) == 1.0
    assert stats.cliffs_delta([3, 3], [3]) == 0.0
    # Holm over three pairs, checked against the holm function below
    np.testing.assert_allclose(res["p_holm"], stats.holm(res["p"]))
    assert list(res.index) == [("A", "B"), ("A", "C"), ("B", "C")]


def test_dunn_by_hand():
    # mean ranks A = 8/3, B = 15.5/3; variance term N (N+1) / 12 - sum(t^3 - t) / (12 (N-1)) = 7.5 - 24/96 = 7.25
    z_ab = (8 / 3 - 15.5 / 3) / math.sqrt(7.25 * (1 / 3 + 1 / 3))
    res = stats.pairwise_tests(table(), method="dunn").set_index(["group_a", "group_b"])
    assert res.loc[("A", "B"), "statistic"] == pytest.approx(z_ab, rel=1e-12)
    assert res.loc[("A", "B"), "p"] == pytest.approx(math.erfc(abs(z_ab) / math.sqrt(2)), rel=1e-9)
    assert res.loc[("A", "B"), "test"] == "Dunn z"


def test_holm_by_hand():
    # ascending 0.01, 0.03, 0.04, 0.2 -> times 4, 3, 2, 1 = 0.04, 0.09, 0.08, 0.2 -> monotone 0.04, 0.09, 0.09, 0.2
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.2]), [0.04, 0.09, 0.09, 0.2])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])
    np.testing.assert_allclose(stats.holm([0.02]), [0.02])


def test_bad_tables_are_refused(tmp_path):
    with pytest.raises(ValueError, match="lacks the column"):
        stats.check_ratings(pd.DataFrame({"listener": ["a"], "group": ["x"], "rating": [3]}))
    for bad in (6, 0, 2.5, "three"):
        df = table()
        df["rating"] = df["rating"].astype(object)
        df.loc[0, "rating"] = bad
        with pytest.raises(ValueError, match="not whole numbers in 1..5"):
            stats.check_ratings(df)
    with pytest.raises(ValueError, match="empty"):
        stats.check_ratings(table().iloc[:0])
    with pytest.raises(ValueError, match="no ratings for the group"):
        stats.kruskal_wallis(table(), groups=["A", "Z"])
    with pytest.raises(ValueError, match="every rating is the same"):
        stats.kruskal_wallis(table({"A": [3, 3], "B": [3]}))
    with pytest.raises(FileNotFoundError):
        stats.load_ratings(tmp_path / "none.csv")


def test_load_ratings_round_trip(tmp_path):
    df = table()
    df.to_csv(tmp_path / "r.csv", index=False)
    back = stats.load_ratings(tmp_path / "r.csv")
    assert stats.kruskal_wallis(back).h == pytest.approx(HAND_H)
    assert not stats.is_simulated(back)
    sim = stats.simulate_panel(seed=1)
    sim.to_csv(tmp_path / "sim.csv", index=False)
    back = stats.load_ratings(tmp_path / "sim.csv")
    assert stats.is_simulated(back)  # the flag survives the CSV (the attrs do not)
    assert stats.kruskal_wallis(back).h == pytest.approx(stats.kruskal_wallis(sim).h)


def test_expected_rating_by_hand():
    # symmetric around 3 on a scale symmetric around 3: the expectation is exactly 3 for any spread
    for sd in (0.1, 1.0, 5.0):
        assert stats.expected_rating(3.0, sd) == pytest.approx(3.0, abs=1e-12)
    assert stats.expected_rating(4.0, 1e-6) == pytest.approx(4.0)
    assert stats.expected_rating(3.5, 1e-9) == pytest.approx(3.5)  # half rounds to 3, half to 4
    assert stats.expected_rating(40.0, 1.0) == pytest.approx(5.0)
    assert stats.expected_rating(-40.0, 1.0) == pytest.approx(1.0)
    mu = stats.latent_level(3.83, 1.2)
    assert stats.expected_rating(mu, 1.2) == pytest.approx(3.83, abs=1e-9)
    with pytest.raises(ValueError):
        stats.latent_level(5.0, 1.0)


def test_simulated_panel_shape_and_flags():
    sim = stats.simulate_panel(seed=0)
    groups = LISTENING_TEST["groups"]
    assert len(sim) == LISTENING_TEST["listeners"] * len(groups) * LISTENING_TEST["loops_per_group"] == 1000
    assert sim["listener"].nunique() == 20 and sim["stimulus"].nunique() == 50
    assert not sim.duplicated(["listener", "stimulus"]).any()
    assert set(sim["group"]) == set(groups)
    assert sim["rating"].between(1, 5).all() and sim["rating"].dtype.kind == "i"
    assert sim["simulated"].all() and sim.attrs["simulated"]
    # deterministic by seed
    pd.testing.assert_frame_equal(sim, stats.simulate_panel(seed=0))
    assert not sim["rating"].equals(stats.simulate_panel(seed=1)["rating"])
    # every derived number carries the flag
    assert stats.group_summary(sim)["simulated"].all()
    assert stats.pairwise_tests(sim)["simulated"].all()
    kw = stats.kruskal_wallis(sim)
    assert kw.simulated and kw.label.endswith("(simulated panel)")
    assert stats.data_label(sim) == "simulated panel" and stats.data_label(table()) == "real panel"


def expected_h(means, model, listeners, loops, replicates, seed) -> float:
    """Mean Kruskal-Wallis H over ``replicates`` panels drawn by the rating model of ``stats.PanelModel``, written
    out here independently of ``simulate_panel``."""
    rng = np.random.default_rng(seed)
    groups = LISTENING_TEST["groups"]
    levels = np.array([stats.latent_level(means[g], model.total_sd) for g in groups])
    u = rng.normal(0, model.listener_sd, size=(replicates, listeners, 1, 1))
    v = rng.normal(0, model.loop_sd, size=(replicates, 1, len(groups), loops))
    e = rng.normal(0, model.noise_sd, size=(replicates, listeners, len(groups), loops))
    ratings = np.clip(np.floor(levels[None, None, :, None] + u + v + e + 0.5), 1, 5)
    counts = (ratings[..., None] == np.arange(1, 6)).sum(axis=(1, 3))  # (replicates, groups, values)
    return float(stats.kruskal_from_counts(counts).mean())


def test_simulated_panel_is_calibrated_to_the_paper():
    sim = stats.simulate_panel(seed=0)
    expected = sim.attrs["simulation"]["expected_means"]
    assert expected["Training set"] == pytest.approx(LISTENING_TEST["means"]["Training set"], abs=1e-6)
    assert expected["VQ-VAE (temp 1.2)"] == pytest.approx(LISTENING_TEST["means"]["VQ-VAE (temp 1.2)"], abs=1e-6)
    continuous = {expected[g] for g in ("AR LSTM-VAE", "NonAR LSTM-VAE", "CNN-VAE")}
    assert len(continuous) == 1 and continuous.pop() < expected["VQ-VAE (temp 1.2)"]
    # the fixed means give a panel of the paper's size an expected H near the paper's (2,000 simulated panels)
    h = expected_h(expected, stats.PanelModel(), listeners=20, loops=10, replicates=2000, seed=2024)
    assert h == pytest.approx(LISTENING_TEST["kruskal_h"], abs=3.0)
    summary = stats.group_summary(sim).set_index("group")
    assert summary.loc["Training set", "paper_mean"] == 3.83
    text = stats.describe_simulation(sim)
    for needle in ("simulated", "not given by people", "3.83", "3.52", "75.19", "20 simulated listeners", "seed 0"):
        assert needle in text


def test_figure6(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = table()
    fig = stats.plot_ratings(df)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B", "C"]
    assert sorted(t.get_text() for t in ax.texts) == ["2.00", "3.33", "4.33"]  # the means, written above
    greens = [ln for ln in ax.lines if ln.get_color() == "green"]
    assert len(greens) == 3 and [ln.get_ydata()[0] for ln in greens] == [2.0, 4.0, 5.0]  # medians
    triangles = [ln for ln in ax.lines if ln.get_marker() == "^"]
    assert len(triangles) == 3 and all(ln.get_markerfacecolor() == "red" for ln in triangles)
    assert "real panel" in ax.get_title()
    fig.savefig(tmp_path / "fig6.png")
    plt.close(fig)
    fig = stats.plot_ratings(stats.simulate_panel(seed=0))
    assert "simulated panel" in fig.axes[0].get_title()
    plt.close(fig)


def test_group_differences_resample_listeners():
    # two listeners: l0 rates A 1, B 3; l1 rates A 3, B 5. B - A = 2 for each, so every resampling gives 2
    df = table({"A": [1, 3], "B": [3, 5]}, listeners=["l0", "l1"])
    diffs = stats.group_differences(df, reference="B", n_boot=200)
    assert list(diffs["group"]) == ["A"]
    assert diffs.loc[0, ["difference", "low", "high"]].tolist() == pytest.approx([2.0, 2.0, 2.0])
    assert diffs.attrs["reference"] == "B" and not diffs.attrs["simulated"]
    # a listener who rates B below A widens the interval across 0
    wide = stats.group_differences(table({"A": [1, 3, 5], "B": [3, 5, 1]}, listeners=["l0", "l1", "l2"]),
                                   reference="B", n_boot=2000)
    assert wide.loc[0, "difference"] == pytest.approx(0.0) and wide.loc[0, "low"] < 0 < wide.loc[0, "high"]
    sim = stats.group_differences(stats.simulate_panel(seed=0), n_boot=200)
    assert sim.attrs["simulated"] and sim.attrs["reference"] == LISTENING_TEST["groups"][-1] and len(sim) == 4
    with pytest.raises(ValueError, match="reference group"):
        stats.group_differences(df, reference="C")


def test_paper_means_never_estimates_a_mean():
    table = stats.paper_means()
    assert list(table["group"]) == list(LISTENING_TEST["groups"])
    known = table.set_index("group")["paper's mean rating"]
    assert known["Training set"] == 3.83 and known["VQ-VAE (temp 1.2)"] == 3.52
    assert known.isna().sum() == 3
    assert list(table["source"].str.contains("not recovered")) == list(known.isna())
