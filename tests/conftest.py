"""Shared fixtures: the real demo corpus (fetched once from Debian's mirrors, cached) and its loop data set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The demo corpus is cached between test runs (it is 4 MB and a second fetch only checks it).
CACHE = Path(os.environ.get("LOOPKIT_TEST_CACHE", ROOT / ".pytest_cache" / "loopkit"))


@pytest.fixture(scope="session")
def demo_corpus() -> Path:
    """The Debian demo corpus (`loopkit data demo`), real MIDI with redistributable licences."""
    from loopkit.sources.games import fetch_games

    return fetch_games(CACHE / "demo", progress=False, echo=lambda *a, **k: None)


@pytest.fixture(scope="session")
def demo_loops(demo_corpus, tmp_path_factory):
    """The loop data set extracted from the demo corpus with the paper's rules (default settings)."""
    from loopkit.data.extract import extract

    return extract([demo_corpus], tmp_path_factory.mktemp("demo-loops") / "loops", progress=False)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Smoke-profile VQ-VAE + prior (and a CNN-VAE) trained on 48 synthetic loops: about two seconds."""
    from loopkit.data.synthetic import synthetic_dataset
    from loopkit.training.train import train, train_prior

    root = tmp_path_factory.mktemp("runs")
    data = synthetic_dataset(48, seed=3)
    train("vq_vae", data, "smoke", root / "vq_vae", progress=False)
    train_prior(root / "vq_vae" / "best.pt", data, "smoke", root / "prior", progress=False)
    train("cnn_vae", data, "smoke", root / "cnn_vae", progress=False)
    return root
