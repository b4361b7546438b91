"""Latent manipulation (loopkit.generation.latent): latent copies and bar forms, Figure 5's frequent codes, and notebook 3's
editing of code sequences (bar swaps, single codes, resampling bars from the prior)."""

import numpy as np
import pytest
import torch
from tiny_models import constant_prior, tiny_vqvae

from loopkit.generation import latent as L
from loopkit.generation import sampling as S

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------------
# latent manipulation plans


def test_paper_preset_is_latent_steps_0_1_onto_16_17():
    plan = L.LatentCopy.paper(32)
    assert plan.pairs == ((0, 16), (1, 17))
    assert plan.name == "paper"
    assert L.LatentCopy.parse("paper", 32) == plan
    # t = 64 (Table 2's other size): bars are 8 latent steps, half a bar is 4
    assert L.LatentCopy.paper(64).pairs == ((0, 32), (1, 33), (2, 34), (3, 35))
    assert plan.describe() == "paper: latent steps 0->16, 1->17"


def test_bar_forms_copy_the_first_bar_of_each_letter():
    # ABAB ABCD at t = 32 (4 latent steps a bar): bar 3 <- bar 1, bar 4 <- bar 2, bar 5 <- bar 1, bar 6 <- bar 2
    plan = L.LatentCopy.from_form("ABAB ABCD", 32)
    expected = []
    for src_bar, dst_bar in [(0, 2), (1, 3), (0, 4), (1, 5)]:
        expected += [(4 * src_bar + j, 4 * dst_bar + j) for j in range(4)]
    assert plan.pairs == tuple(sorted(expected, key=lambda p: p[1]))
    # the paper's notation with dashes, lower case: the same plan
    assert L.LatentCopy.from_form("a-b-a-b-a-b-c-d", 32).pairs == plan.pairs
    # AABA AABA with span 1: the first latent step of bars 2, 4, 5, 6, 8 from bar 1, of bar 7 from bar 3
    plan = L.LatentCopy.from_form("AABA AABA", 32, span=1)
    assert plan.pairs == ((0, 4), (0, 12), (0, 16), (0, 20), (8, 24), (0, 28))
    # free bars are left alone; the paper's case written as a form
    assert L.LatentCopy.from_form("A???A???", 32, span=2).pairs == ((0, 16), (1, 17))
    assert L.LatentCopy.from_form("ABCD EFGH", 32).pairs == ()
    assert L.LatentCopy.parse("none", 32) is None and L.LatentCopy.parse(None, 32) is None


@pytest.mark.parametrize(
    "form, span, message",
    [("ABAB ABC", None, "names 7 bars"), ("ABAB ABC1", None, "only letters"), ("AAAA AAAA", 5, "span must lie"),
     ("AAAA AAAA", 0, "span must lie")],  # fmt: skip
)
def test_bad_forms_are_refused(form, span, message):
    with pytest.raises(ValueError, match=message):
        L.LatentCopy.from_form(form, 32, span=span)


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="multiple of 8"):
        L.LatentCopy.paper(12)
    with pytest.raises(ValueError, match="earlier step onto a later"):
        L.LatentCopy(((5, 3),))
    with pytest.raises(ValueError, match="target of two"):
        L.LatentCopy(((0, 5), (1, 5)))
    with pytest.raises(ValueError, match="past t = 16"):
        L.LatentCopy.paper(32).apply(np.zeros((2, 16), dtype=int))
    with pytest.raises(ValueError, match="fixes its span"):
        L.LatentCopy.parse("paper", 32, span=1)


def test_apply_copies_in_target_order_numpy_and_torch():
    codes = np.arange(2 * 32).reshape(2, 32)
    out = L.LatentCopy.paper(32).apply(codes)
    assert out[0, 16] == 0 and out[0, 17] == 1 and out[1, 16] == 32 and out[1, 17] == 33
    changed = np.flatnonzero((out != codes).any(axis=0))
    assert changed.tolist() == [16, 17]
    assert codes[0, 16] == 16  # the input is not modified
    # a chain: 0 -> 4 and 4 -> 8 leaves step 8 with step 0's code
    chain = L.LatentCopy(((4, 8), (0, 4))).apply(torch.arange(32)[None])
    assert chain[0, 8].item() == 0 and chain[0, 4].item() == 0



# ---------------------------------------------------------------------------------------------------------
# Figure 5's code sequences


def test_frequent_code_sequences_hand_computed():
    # 5 sequences of t = 2 codes, K = 4
    idx = np.array([[1, 3], [1, 3], [1, 2], [2, 0], [0, 0]])
    # step 0: counts (code 0: 1, 1: 3, 2: 1) -> most 1, second 0 (tie 0/2 -> smaller), least 0, second least 2
    # step 1: counts (0: 2, 2: 1, 3: 2)     -> most 0 (tie 0/3), second 3, least 2, second least 0
    seqs = L.frequent_code_sequences(idx, K=4)
    assert [list(v) for v in seqs.values()] == [[1, 0], [0, 3], [0, 2], [2, 0]]
    # a step with a single used code falls back to rank 0 for the second rank
    seqs = L.frequent_code_sequences(np.array([[1, 2], [1, 3]]), K=4)
    assert list(seqs["(b) second most frequent"]) == [1, 3]


def test_decode_frequent_codes_decodes_each_panel():
    vq = tiny_vqvae(K=16)
    idx = np.random.default_rng(0).integers(0, 16, size=(40, 32))
    out = L.decode_frequent_codes(vq, idx)
    assert list(out) == [p[0] for p in L.FREQUENT_PANELS]
    for codes, roll in out.values():
        assert codes.shape == (32,) and roll.shape == (128, 93)
        assert (S.decode_codes(vq, codes[None])[0] == roll).all()



# --- editing code sequences (notebook 3's tweakable cells) ------------------------------------------------


def test_bar_steps_and_swap_bars():
    assert L.bar_steps(0) == [0, 1, 2, 3] and L.bar_steps(4) == [16, 17, 18, 19]
    codes = np.arange(64).reshape(2, 32)
    swapped = L.swap_bars(codes, 1, 2)
    assert swapped[0, 4:8].tolist() == [8, 9, 10, 11] and swapped[0, 8:12].tolist() == [4, 5, 6, 7]
    assert np.array_equal(np.delete(swapped, range(4, 12), axis=1), np.delete(codes, range(4, 12), axis=1))
    assert codes[0, 4] == 4  # the input is not changed
    with pytest.raises(ValueError, match="bar must lie"):
        L.swap_bars(codes, 0, 8)


def test_single_code_sequence():
    assert L.single_code_sequence(7, 32).tolist() == [[7] * 32]
    with pytest.raises(ValueError, match="code must lie"):
        L.single_code_sequence(16, 32, codebook_size=16)


def test_resample_steps_keeps_the_other_codes_and_follows_the_prior():
    # a prior whose logits strongly prefer code 3 at every step: resampled steps become 3 (argmax), the rest stay
    bias = torch.full((16,), -10.0)
    bias[3] = 10.0
    prior = constant_prior(bias)
    codes = np.full((2, 32), 5)
    out = L.resample_steps(prior, codes, L.bar_steps(2), temperature="argmax")
    assert out[:, 8:12].tolist() == [[3] * 4] * 2
    assert (np.delete(out, range(8, 12), axis=1) == 5).all()
    # the same seed gives the same draw; sampling at temperature 1 still respects the kept codes
    a = L.resample_steps(prior, codes, [0, 31], temperature=1.0, seed=4)
    b = L.resample_steps(prior, codes, [0, 31], temperature=1.0, seed=4)
    assert np.array_equal(a, b) and (a[:, 1:31] == 5).all()
    with pytest.raises(ValueError, match="steps must lie"):
        L.resample_steps(prior, codes, [32])


def test_frequent_code_properties_measure_each_panel_with_the_loop_rules():
    from loopkit.data.pianoroll import BASS_COLUMNS, drum_column

    loop = np.zeros((128, 93), dtype=bool)
    loop[::16, drum_column("kick")] = loop[::16, drum_column("crash")] = True
    loop[::4, BASS_COLUMNS.start + 12] = True  # bar 5 repeats bar 1 exactly
    broken = loop.copy()
    broken[64:80, drum_column("snare")] = True  # bar 5 no longer repeats bar 1: 16 of 1,488 cells differ
    empty = np.zeros((128, 93), dtype=bool)
    table = L.frequent_code_properties({"(a)": (None, loop), "(b)": (None, broken), "(c)": (None, empty)})
    assert list(table["panel"]) == ["(a)", "(b)", "(c)"]
    assert list(table["a loop"]) == [True, False, False]
    assert table["HD"].tolist() == pytest.approx([0.0, 16 / 1488, 0.0])
    assert list(table["kick"]) == [True, True, False] and list(table["bass"]) == [True, True, False]
    assert table["steps with a note"].tolist() == pytest.approx([32 / 128, 44 / 128, 0.0])  # 12 steps gain a note
