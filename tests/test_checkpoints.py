"""Checkpoints (loopkit.models.checkpoints): finding a prior's VQ-VAE, pairing them, refusing other weights."""

import shutil
from pathlib import Path

import pytest
import torch

from loopkit.models import checkpoints as C

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------------
# checkpoints


def test_load_generator_finds_the_prior_s_vqvae(runs, tmp_path):
    vq, prior = C.load_generator(runs / "prior" / "best.pt")
    assert C.model_name(vq) == "vq_vae" and C.model_name(prior) == "prior"
    vq2, prior2 = C.load_generator(runs / "vq_vae" / "best.pt", prior=runs / "prior" / "best.pt")
    assert C.model_name(vq2) == "vq_vae"
    model, none = C.load_generator(runs / "cnn_vae" / "best.pt")
    assert C.model_name(model) == "cnn_vae" and none is None
    with pytest.raises(ValueError, match="pass the prior's checkpoint"):
        C.load_generator(runs / "vq_vae" / "best.pt")
    with pytest.raises(ValueError, match="takes no prior"):
        C.load_generator(runs / "cnn_vae" / "best.pt", prior=runs / "prior" / "best.pt")
    # the runs folder moved: the VQ-VAE is found beside the prior as ../vq_vae/best.pt
    moved = tmp_path / "moved"
    shutil.copytree(runs, moved)
    recorded = runs / "vq_vae" / "best.pt"
    hidden = recorded.with_name("hidden.pt")
    recorded.rename(hidden)
    try:
        vq3, _ = C.load_generator(moved / "prior" / "best.pt")
        assert Path(vq3.checkpoint["path"]) == moved / "vq_vae" / "best.pt"
        # other VQ-VAE weights are refused
        other = tmp_path / "other.pt"
        shutil.copy(runs / "cnn_vae" / "best.pt", other)
        with pytest.raises(ValueError, match="other VQ-VAE weights"):
            C.load_generator(moved / "prior" / "best.pt", vqvae=other)
        (moved / "vq_vae" / "best.pt").unlink()
        with pytest.raises(FileNotFoundError, match="name its checkpoint"):
            C.load_generator(moved / "prior" / "best.pt")
    finally:
        hidden.rename(recorded)
