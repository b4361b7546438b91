"""Model Architecture (Music Continuous VAE, Music VQ-VAE; appendix A): the paper's four models and the VQ-VAE's prior,
their checkpoints (``checkpoints``) and a run's arithmetic on its device (``numerics``). The models load torch; the
package and ``checkpoints`` load it only when a model is built or a checkpoint read.

Every model takes loops ``x`` of shape (b, t=128, p=93) as floats; ``forward(x)`` returns a dict with
``logits`` (b, t, p) and its loss terms, ``model.loss(out, beta)`` the training objective, and
``reconstruct(x)`` the thresholded (sigmoid >= 0.5) reconstruction as bool. ``build_model(name, config)``
(``registry``) makes one by name; ``loopkit.models.checkpoints.load_model(path)`` rebuilds one from a checkpoint.
"""

from loopkit.lazy import lazy_exports

#: The public names (the models, and what other groups use), imported on first use: ``import
#: loopkit.models.checkpoints`` loads no torch until a checkpoint is read, written or built.
_EXPORTS = {
    "ARLSTMVAE": "ar_lstm_vae", "CNNVAE": "cnn_vae", "NonARLSTMVAE": "nonar_lstm_vae", "LSTMPrior": "prior",
    "EMAQuantizer": "quantizer", "VQVAE": "vq_vae",
    "BASS_RULES": "blocks", "binarize": "blocks", "threshold": "blocks",
    "BEST": "checkpoints", "CHECKPOINT_FORMAT": "checkpoints", "LAST": "checkpoints", "TRAIN_CODES": "checkpoints",
    "check_pair": "checkpoints", "file_digest": "checkpoints", "load_checkpoint": "checkpoints",
    "load_generator": "checkpoints", "load_model": "checkpoints", "load_train_codes": "checkpoints",
    "model_name": "checkpoints", "resolve_device": "checkpoints", "run_label": "checkpoints",
    "save_checkpoint": "checkpoints",
    "amp_dtype": "numerics", "autocast_for": "numerics", "run_numerics": "numerics",
    "MODEL_CLASSES": "registry", "build_model": "registry",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
