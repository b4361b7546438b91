"""The models by name (Model Architecture): ``MODEL_CLASSES`` and ``build_model(name, config)``, a freshly
initialised model of any of the four or the prior. Loads torch (through the model classes)."""


from __future__ import annotations

from loopkit.config import PRIOR_NAME, model_config
from loopkit.errors import LoopkitError
from loopkit.models.ar_lstm_vae import ARLSTMVAE
from loopkit.models.cnn_vae import CNNVAE
from loopkit.models.nonar_lstm_vae import NonARLSTMVAE
from loopkit.models.prior import LSTMPrior
from loopkit.models.vq_vae import VQVAE

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
