"""loopkit: the reproducible companion to "Symbolic Music Loop Generation with VQ-VAE" (Han, Ihm, Lim, 2021).

The pipeline, in the paper's order: ``pianoroll`` (MIDI <-> 93-column bass+drum roll), ``loops`` (the loop
rules), ``extract`` (the rules over whole corpora, with ``journal`` and ``workers``), ``dataset`` and ``funnel``
(the loop data set on disk), ``sources`` (the demo corpus and LMD-full), ``models`` + ``train`` (the four models,
the prior, one trainer) and ``checkpoints``, ``sampling`` + ``generate`` (the sampler) and ``latent`` (latent
copies, bar forms, Figure 5), ``metrics`` + ``evaluate`` (Tables 1-4), ``audio``, ``plots`` and ``samples``
(what the book plays and shows), ``listening`` (the listening test and its statistics), ``book`` (the book
itself). Bad input raises ``loopkit.errors.LoopkitError``.
"""

from loopkit.data.dataset import Loops, PackedRolls, load_loops
from loopkit.version import __version__


def load_model(path, device="cpu"):
    """Rebuild a trained model or the prior from its checkpoint alone (see ``loopkit.models.checkpoints.load_model``).

    Imported on first use, so that ``import loopkit`` does not import torch.
    """
    from loopkit.models.checkpoints import load_model as _load_model

    return _load_model(path, device)


__all__ = ["Loops", "PackedRolls", "load_loops", "load_model", "__version__"]
