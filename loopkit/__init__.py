"""loopkit: the reproducible companion to "Symbolic Music Loop Generation with VQ-VAE" (Han, Ihm, Lim, 2021).

The pipeline, in the paper's order: ``pianoroll`` (MIDI <-> 93-column bass+drum roll), ``loops`` (the loop
rules), ``extract`` (the rules over whole corpora), ``dataset`` (the loop data set on disk).
"""

from .dataset import Loops, PackedRolls, load_loops

__version__ = "0.1.0"

__all__ = ["Loops", "PackedRolls", "load_loops", "__version__"]
