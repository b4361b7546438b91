"""The paper's four models and the VQ-VAE's prior (Music Continuous VAE, Music VQ-VAE, appendix A).

Every model takes loops ``x`` of shape (b, t=128, p=93) as floats; ``forward(x)`` returns a dict with
``logits`` (b, t, p) and its loss terms, ``model.loss(out, beta)`` the training objective, and
``reconstruct(x)`` the thresholded (sigmoid >= 0.5) reconstruction as bool. ``build_model(name, config)``
makes one by name; ``loopkit.checkpoints.load_model(path)`` rebuilds one from a checkpoint.
"""

from __future__ import annotations

from ..config import MODEL_NAMES, PRIOR_NAME, model_config
from ..errors import LoopkitError
from .ar_lstm_vae import ARLSTMVAE
from .cnn_vae import CNNVAE
from .nonar_lstm_vae import NonARLSTMVAE
from .prior import LSTMPrior
from .quantizer import EMAQuantizer
from .vq_vae import VQVAE

MODEL_CLASSES = {
    "ar_lstm_vae": ARLSTMVAE,
    "nonar_lstm_vae": NonARLSTMVAE,
    "cnn_vae": CNNVAE,
    "vq_vae": VQVAE,
    "prior": LSTMPrior,
}

def build_model(name: str, config=None, profile: str = "paper"):
    """A freshly initialised model ``name``; ``config`` defaults to ``model_config(name, profile)``."""
    if name not in MODEL_CLASSES:
        raise LoopkitError(f"unknown model {name!r}; known: {', '.join(MODEL_CLASSES)}")
    config = config if config is not None else model_config(name, profile)
    if name == PRIOR_NAME:
        return LSTMPrior(config=config)
    return MODEL_CLASSES[name](config)


__all__ = [
    "ARLSTMVAE",
    "CNNVAE",
    "EMAQuantizer",
    "LSTMPrior",
    "MODEL_CLASSES",
    "MODEL_NAMES",
    "NonARLSTMVAE",
    "VQVAE",
    "build_model",
]
