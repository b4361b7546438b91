"""loopkit: the reproducible companion to "Symbolic Music Loop Generation with VQ-VAE" (Han, Ihm, Lim, 2021).

The pipeline, in the paper's order: ``pianoroll`` (MIDI <-> 93-column bass+drum roll), ``loops`` (the loop
rules), ``extract`` (the rules over whole corpora), ``dataset`` (the loop data set on disk), ``sources`` (the
demo corpus and LMD-full), ``models`` + ``train`` (the four models, the prior, one trainer), ``generate``
(sampling and latent manipulation), ``metrics`` + ``evaluate`` (Tables 1-4), ``audio`` and ``plots`` (what the
book plays and shows), ``listening`` (the listening test and its statistics), ``book`` (the book itself).
"""

from .dataset import Loops, PackedRolls, load_loops

__version__ = "0.1.0"



def load_model(path, device="cpu"):
    """Rebuild a trained model or the prior from its checkpoint alone (see ``loopkit.train.load_model``)."""
    from .train import load_model as _load_model

    return _load_model(path, device)


__all__ = ["Loops", "PackedRolls", "load_loops", "load_model", "__version__"]
