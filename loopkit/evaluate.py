"""The paper's tables reproduced: Table 1 (reconstruction error of the four models), Table 2 (VQ-VAE latent sizes)
and Tables 3 and 4 (musical metrics of generated loops, without and with latent manipulation).

Each table puts the paper's published value (``loopkit.paper``) beside ours, and names the profile and the data
set that ours come from, so that a number from the small ``cpu`` profile on the demo corpus is never mistaken
for one from the paper's setting on LMD.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from . import paper
from .atomic import write_bytes, write_text
from .checkpoints import BEST, file_digest, load_generator, load_model, resolve_device
from .config import ALL_NAMES, CONTINUOUS_MODELS, MODEL_NAMES, PAPER_NAMES
from .dataset import ROLL_CELLS, Loops, as_loops
from .errors import LoopkitError
from .generate import generate, sample_codes
from .latent import LatentCopy, check_mode
from .metrics import METRIC_DEFINITIONS, musical_metrics
from .sampling import decode_codes, parse_temperature, temperature_label
from .train import codes_of, model_reconstruction_error, train


def _data_label(loops: Loops) -> str:
    name = Path(loops.path).name if loops.path else "in-memory"
    return f"{name} ({loops.fingerprint})"


#: The reference row of Table 1: a "model" that reconstructs every loop as silence.
EMPTY_OUTPUT = "Empty output (all cells off)"


def table1(checkpoints: Mapping[str, str | os.PathLike], data: Loops | str | os.PathLike,
           batch_size: int = 2048, device=None, baseline: bool = True) -> pd.DataFrame:
    """Table 1: each model's reconstruction error on the validation split, beside the paper's.

    Reconstruction error = mean per-cell Hamming distance between a validation loop and its thresholded
    reconstruction (``loopkit.train.model_reconstruction_error``; the paper's Table 1 definition).

    Parameters
    ----------
    checkpoints : model name ("ar_lstm_vae", ...) -> checkpoint path (e.g. a run's ``best.pt``)
    data : the loop data set (its "valid" split is evaluated)
    baseline : add a last row, ``EMPTY_OUTPUT``: the error of reconstructing every loop as silence, i.e. the
        share of cells that are on. A model must beat it to have learned anything beyond "mostly off" (on a
        small corpus such as the demo one, the margin is what to read).

    Returns
    -------
    DataFrame, one row per model in the paper's order: ``model`` (the paper's name), ``reconstruction_error``
    (ours), ``paper`` (Table 1), ``profile``, ``epoch`` (of the checkpoint), ``epochs_scheduled`` (of its
    training run), ``data`` (data set name and fingerprint), ``trained_on_same_data`` (the checkpoint's data
    fingerprint equals this data set's).
    """
    loops = as_loops(data)
    valid = loops.split("valid")
    if len(valid) == 0:
        raise LoopkitError("the data set has no validation loops to evaluate")
    device = resolve_device(device)
    unknown = sorted(set(checkpoints) - set(MODEL_NAMES))
    if unknown:
        raise LoopkitError(f"unknown model(s) {', '.join(unknown)}; Table 1 has {', '.join(MODEL_NAMES)}")
    rows = []
    for name in [n for n in MODEL_NAMES if n in checkpoints]:
        model = load_model(checkpoints[name], device)
        if model.checkpoint["model"] != name:
            raise LoopkitError(f"{checkpoints[name]} holds a {model.checkpoint['model']}, not a {name}")
        label = PAPER_NAMES[name]
        rows.append(
            {
                "model": label,
                "reconstruction_error": model_reconstruction_error(model, valid, batch_size, device),
                "paper": paper.TABLE1_RECONSTRUCTION[label],
                "profile": model.checkpoint["profile"],
                "epoch": model.checkpoint["epoch"],
                "epochs_scheduled": model.checkpoint["train_config"]["epochs"],
                "data": _data_label(loops),
                "trained_on_same_data": model.checkpoint["data_fingerprint"] == loops.fingerprint,
            }
        )
    if baseline:
        on = int(np.unpackbits(valid.rolls.packed, axis=1).sum(dtype=np.int64))
        rows.append({"model": EMPTY_OUTPUT, "reconstruction_error": on / (len(valid) * ROLL_CELLS),
                     "paper": float("nan"), "data": _data_label(loops)})
    return pd.DataFrame(rows)


def table2_run_name(t: int, L: int, K: int) -> str:
    """The run directory of one Table 2 cell under ``out``."""
    return f"vq_vae_t{t}_L{L}_K{K}"


def table2(data: Loops | str | os.PathLike, profile: str, out: str | os.PathLike,
           grid: Iterable[tuple[int, int, int]] | None = None, device=None, seed: int = 0, progress: bool = True,
           epochs: int | None = None, batch_size: int = 2048) -> pd.DataFrame:
    """Table 2: train the VQ-VAE for each latent size (t, L, K) under ``profile`` and report reconstruction error.

    Each cell trains (or resumes, or reuses a finished run) in ``out/vq_vae_t{t}_L{L}_K{K}`` with the profile's
    VQ-VAE settings and t, L, K overridden; for t = 64 the encoder downsamples once less. The error is that of
    the best checkpoint on the validation split.

    Parameters
    ----------
    grid : (t, L, K) triples; default the paper's six rows (``loopkit.paper.TABLE2_LATENT_SIZE``)

    Returns
    -------
    DataFrame with ``t``, ``L``, ``K``, ``reconstruction_error`` (ours), ``paper`` (NaN where the paper has no
    such row), ``profile``, ``epoch`` (of the best checkpoint), ``epochs_scheduled``, ``data``.
    """
    loops = as_loops(data)
    device = resolve_device(device)
    grid = list(grid) if grid is not None else list(paper.TABLE2_LATENT_SIZE)
    rows = []
    for t, L, K in grid:
        best = train("vq_vae", loops, profile, Path(out) / table2_run_name(t, L, K), device=device, seed=seed,
                     progress=progress, epochs=epochs,
                     overrides={"latent_steps": t, "latent_dim": L, "codebook_size": K})
        model = load_model(best, device)
        rows.append(
            {
                "t": t,
                "L": L,
                "K": K,
                "reconstruction_error": model_reconstruction_error(model, loops.split("valid"), batch_size, device),
                "paper": paper.TABLE2_LATENT_SIZE.get((t, L, K), float("nan")),
                "profile": profile,
                "epoch": model.checkpoint["epoch"],
                "epochs_scheduled": model.checkpoint["train_config"]["epochs"],
                "data": _data_label(loops),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# Tables 3 and 4: the musical metrics of generated loops (Quantitative Evaluation, Musical Metric Results,
# Manipulating Latent Space of VQ-VAE). ``loopkit.generate`` samples, ``loopkit.metrics`` measures.

#: The VQ-VAE rows of Tables 3 and 4: "VQ-VAE (argmax)", "(temp 1)", "(temp 1.5)", "(temp 2)".
METRIC_TABLE_TEMPERATURES = ("argmax", 1.0, 1.5, 2.0)
def run_checkpoints(runs: str | os.PathLike) -> dict[str, Path]:
    """The best checkpoint of each model found in a runs folder (``<runs>/<name>/best.pt``), by model name
    (``ar_lstm_vae``, ``nonar_lstm_vae``, ``cnn_vae``, ``vq_vae``, ``prior``); models without one are left out.
    A runs folder holds one run per model (what ``loopkit.train.train`` writes into ``<runs>/<name>``)."""
    root = Path(runs)
    if not root.is_dir():
        raise FileNotFoundError(f"no runs folder at {root} (it holds <model>/{BEST} for each trained model)")
    return {name: root / name / BEST for name in ALL_NAMES if (root / name / BEST).is_file()}


def _metric_row(label: str, values: Mapping[str, float], published: Mapping[str, float], info: dict) -> dict:
    """One row: the model, each metric beside the paper's value, then ``info`` (n, profile, ...)."""
    row: dict = {"model": label}
    for m in paper.METRIC_COLUMNS:
        row[m] = float(values[m])
        row[f"{m} (paper)"] = float(published.get(m, float("nan")))
    row.update(info)
    return row


class _MetricTables:
    """What Tables 3 and 4 share: the data, the checkpoints, the training split's codes, a cache of rows."""

    def __init__(self, runs, data, n, seed, device, batch_size, cache, progress):
        self.checkpoints = (
            {k: Path(v) for k, v in runs.items()} if isinstance(runs, Mapping) else run_checkpoints(runs)
        )
        self.loops = as_loops(data)
        self.train = self.loops.split("train")
        if len(self.train) == 0:
            raise LoopkitError("the data set has no training loops: Tables 3 and 4 compare with the training split")
        self.n = int(n) if n is not None else len(self.train)
        if self.n < 1:
            raise LoopkitError(f"the number of loops per row must be at least 1, got {self.n}")
        self.seed, self.batch_size, self.progress = seed, batch_size, progress
        self.device = resolve_device(device)
        self.cache = Path(cache) if cache is not None else None
        self.data = _data_label(self.loops)
        self._vq = None
        self._train_codes = None
        self._digests: dict[str, str] = {}

    # -- models ------------------------------------------------------------------------------------------
    def digest(self, name: str) -> str:
        if name not in self._digests:
            self._digests[name] = file_digest(self.checkpoints[name])
        return self._digests[name]

    def has_vq(self) -> bool:
        return "vq_vae" in self.checkpoints and "prior" in self.checkpoints

    def vq(self):
        """(vqvae, prior), loaded once; the prior must have been trained on this VQ-VAE (checked by digest)."""
        if self._vq is None:
            self._vq = load_generator(self.checkpoints["prior"], vqvae=self.checkpoints["vq_vae"], device=self.device)
        return self._vq

    def train_codes(self):
        """The VQ-VAE's codes of the training split, (n_train, t) int64 (OS compares with them)."""
        if self._train_codes is None:
            vq, _ = self.vq()
            self._train_codes = codes_of(vq, self.train.rolls, self.batch_size or 2048, self.device).cpu().numpy()
        return self._train_codes

    def info(self, model) -> dict:
        ckpt = model.checkpoint
        return {"n": self.n, "profile": ckpt["profile"], "epochs": ckpt["epoch"], "data": self.data,
                "trained_on_same_data": ckpt["data_fingerprint"] == self.loops.fingerprint}  # fmt: skip

    # -- cache -------------------------------------------------------------------------------------------
    def _key(self, **parts) -> tuple[dict, str]:
        key = {"data": self.loops.fingerprint, "n": self.n, "seed": self.seed, "batch_size": self.batch_size,
               "device": self.device.type, **parts}  # fmt: skip
        text = json.dumps(key, sort_keys=True, default=str)
        return key, hashlib.sha256(text.encode()).hexdigest()[:16]

    def cached_row(self, kind: str, compute, **parts) -> dict:
        """``compute()`` once per key: a finished row is kept as JSON in the cache folder, so an interrupted
        evaluation resumes at the first row it had not finished."""
        if self.cache is None:
            return compute()
        key, digest = self._key(kind=kind, **parts)
        path = self.cache / f"row-{kind}-{digest}.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored.get("key") == json.loads(json.dumps(key, default=str)):
                return stored["row"]
        row = compute()
        self.cache.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps({"key": key, "row": row}, indent=1, default=str))
        return row

    def sampled_codes(self, temperature: float):
        """Unmanipulated code sequences at ``temperature`` (cached as .npy): Table 4's "after" rows copy latent
        steps in the very sequences Table 3's rows measured, a paired comparison."""

        def sample():
            _, prior = self.vq()
            return sample_codes(prior, self.n, temperature, seed=self.seed, batch_size=self.batch_size,
                                device=self.device, progress=self.progress)  # fmt: skip

        if self.cache is None:
            return sample()
        _, digest = self._key(kind="codes", prior=self.digest("prior"), temperature=temperature)
        path = self.cache / f"codes-{digest}.npy"
        if path.is_file():
            return np.load(path)
        codes = sample()
        self.cache.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, codes)
        write_bytes(path, buf.getvalue())
        return codes

    # -- rows --------------------------------------------------------------------------------------------
    def training_row(self) -> dict:
        def compute():
            codes = self.train_codes() if self.has_vq() else None
            values = musical_metrics(self.train.rolls, codes, codes, progress=self.progress)
            info = {"n": len(self.train), "profile": None, "epochs": None, "data": self.data,
                    "trained_on_same_data": None}  # fmt: skip
            return _metric_row("Training set", values, paper.TABLE3_MUSICAL_METRICS["Training set"], info)

        parts = {"vq": self.digest("vq_vae") if self.has_vq() else None}
        return self.cached_row("training", compute, **parts)

    def continuous_row(self, name: str) -> dict:
        def compute():
            model = load_model(self.checkpoints[name], self.device)
            if model.checkpoint["model"] != name:
                raise LoopkitError(f"{self.checkpoints[name]} holds a {model.checkpoint['model']}, not a {name}")
            gen = generate(model, self.n, seed=self.seed, batch_size=self.batch_size, device=self.device,
                           progress=self.progress)  # fmt: skip
            values = musical_metrics(gen.rolls, progress=self.progress)
            label = PAPER_NAMES[name]
            return _metric_row(label, values, paper.TABLE3_MUSICAL_METRICS[label], self.info(model))

        return self.cached_row(name, compute, checkpoint=self.digest(name))

    def vq_row(self, temperature, copy, mode: str, published: Mapping[str, Mapping[str, float]]) -> dict:
        temperature = parse_temperature(temperature)
        label = f"VQ-VAE ({temperature_label(temperature)})"

        def compute():
            vq, prior = self.vq()
            plan = LatentCopy.parse(copy, vq.latent_steps)
            if plan is None or mode == "after":
                codes = self.sampled_codes(temperature)
                if plan is not None:
                    codes = plan.apply(codes)
            else:
                codes = sample_codes(prior, self.n, temperature, copy=plan, mode=mode, seed=self.seed,
                                     batch_size=self.batch_size, device=self.device, progress=self.progress)  # fmt: skip
            rolls = decode_codes(vq, codes, packed=True, batch_size=self.batch_size, device=self.device,
                                 progress=self.progress)  # fmt: skip
            values = musical_metrics(rolls, codes, self.train_codes(), progress=self.progress)
            info = self.info(vq) | {"temperature": temperature, "prior_epochs": prior.checkpoint["epoch"]}
            return _metric_row(label, values, published.get(label, {}), info)

        copy_key = copy.to_dict() if hasattr(copy, "to_dict") else copy
        return self.cached_row("vq_vae", compute, vq=self.digest("vq_vae"), prior=self.digest("prior"),
                               temperature=temperature, copy=copy_key, mode=mode if copy is not None else None)  # fmt: skip


def _metric_frame(rows: list[dict], attrs: dict) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.attrs.update(attrs)
    return frame


def table3(runs: str | os.PathLike | Mapping[str, str | os.PathLike], data: Loops | str | os.PathLike, *,
           n: int | None = None, temperatures=METRIC_TABLE_TEMPERATURES, seed: int = 0, device=None,
           batch_size: int | None = None, cache: str | os.PathLike | None = None,
           progress: bool = True) -> pd.DataFrame:  # fmt: skip
    """Table 3: the musical metrics (HD, FND, FNB, DB, OS, US, UP, ND) of the training set and of loops generated
    by each model, beside the paper's published values.

    Rows, in the paper's order: "Training set" (the training split itself; its codes, for OS and US, are the
    trained VQ-VAE's), "AR LSTM-VAE", "NonAR LSTM-VAE", "CNN-VAE" (z ~ N(0, I); OS and US NaN as the paper's
    "-") and "VQ-VAE (argmax)", "(temp 1)", "(temp 1.5)", "(temp 2)" (the prior at each temperature). Each
    generated row holds ``n`` loops, by default as many as the training split (the paper: 120,600), sampled
    with a fresh generator seeded ``seed``. Metric definitions: ``loopkit.metrics.METRIC_DEFINITIONS``.

    Parameters
    ----------
    runs : a runs folder (``<runs>/<model>/best.pt``, see ``run_checkpoints``) or a mapping model name ->
        checkpoint (``ar_lstm_vae``, ``nonar_lstm_vae``, ``cnn_vae``, ``vq_vae``, ``prior``); the rows of models
        without a checkpoint are left out and named in ``attrs["missing"]``
    data : the loop data set the models were trained on (its "train" split is the reference)
    n : loops generated per row (default: the training split's size)
    temperatures : the VQ-VAE rows
    cache : a folder that keeps every finished row (and the sampled codes): re-running resumes, and
        ``table4`` with the same cache reuses the codes
    device, batch_size, progress : as in ``loopkit.generate.generate``

    Returns
    -------
    DataFrame: ``model``; for each metric ``M`` the columns ``M`` (ours) and ``M (paper)``; ``n`` (loops
    measured), ``profile`` and ``epochs`` (of the checkpoint), ``data`` (data set name and fingerprint),
    ``trained_on_same_data``; VQ-VAE rows also ``temperature`` and ``prior_epochs``. ``attrs`` names the table,
    the data, n, seed, the missing models and the metric definitions.
    """
    ev = _MetricTables(runs, data, n, seed, device, batch_size, cache, progress)
    rows = [ev.training_row()]
    missing = []
    for name in CONTINUOUS_MODELS:
        if name in ev.checkpoints:
            rows.append(ev.continuous_row(name))
        else:
            missing.append(name)
    if ev.has_vq():
        rows += [ev.vq_row(t, None, "after", paper.TABLE3_MUSICAL_METRICS) for t in temperatures]
    else:
        missing += [m for m in ("vq_vae", "prior") if m not in ev.checkpoints]
    attrs = {"table": "Table 3", "title": "Musical metric results", "data": ev.data, "n": ev.n, "seed": seed,
             "missing": missing, "definitions": dict(METRIC_DEFINITIONS),
             "paper_data": f"LMD-full, {paper.CORPUS['train']:,} loops per row"}  # fmt: skip
    return _metric_frame(rows, attrs)


def table4(runs: str | os.PathLike | Mapping[str, str | os.PathLike], data: Loops | str | os.PathLike, *,
           n: int | None = None, temperatures=METRIC_TABLE_TEMPERATURES, copy="paper", mode: str = "after",
           seed: int = 0, device=None, batch_size: int | None = None, cache: str | os.PathLike | None = None,
           progress: bool = True) -> pd.DataFrame:  # fmt: skip
    """Table 4: Table 3's VQ-VAE rows with the latent space manipulated, beside the paper's published values.

    The paper copies latent steps 0, 1 onto 16, 17 before decoding (``copy="paper"``; see
    ``loopkit.latent.LatentCopy``; a bar form such as ``"ABAB ABCD"`` is the general case). ``mode="after"``
    (the paper's) copies within the sequences sampled with ``seed``: the same sequences Table 3 measured when the
    seeds agree (and, with a shared ``cache``, literally reused). ``mode="condition"`` samples again with the
    copied codes forced. Other parameters and the columns as in ``table3``; ``attrs["manipulation"]`` describes
    the copy.
    """
    check_mode(mode)
    ev = _MetricTables(runs, data, n, seed, device, batch_size, cache, progress)
    if not ev.has_vq():
        absent = [m for m in ("vq_vae", "prior") if m not in ev.checkpoints]
        raise FileNotFoundError(f"Table 4 needs the VQ-VAE and its prior; no checkpoint for {', '.join(absent)}")
    vq, _ = ev.vq()
    plan = LatentCopy.parse(copy, vq.latent_steps)
    if plan is None:
        raise LoopkitError("Table 4 manipulates the latent space: give copy='paper' or a bar form")
    rows = [ev.vq_row(t, plan, mode, paper.TABLE4_MANIPULATED) for t in temperatures]
    for row in rows:
        row.update(manipulation=plan.name, mode=mode)
    attrs = {"table": "Table 4", "title": "Musical metrics by manipulating latent space", "data": ev.data,
             "n": ev.n, "seed": seed, "manipulation": plan.describe(), "mode": mode, "missing": [],
             "definitions": dict(METRIC_DEFINITIONS),
             "paper_data": f"LMD-full, {paper.CORPUS['train']:,} loops per row"}  # fmt: skip
    return _metric_frame(rows, attrs)


def format_metric(value) -> str:
    """A metric as the paper's Tables 3 and 4 print it: 2 decimals, or 3 significant digits in scientific notation
    below 0.1 (0.28 but 7.97e-02); "-" for NaN (a metric the row does not have)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    if value != 0 and abs(value) < 0.1:
        return f"{value:.2e}"
    return f"{value:.2f}"


def metric_table_markdown(frame: pd.DataFrame) -> str:
    """Table 3 or 4 as Markdown: for each model a row of ours and, below it, the paper's; then what ours come
    from (profile, data, loops per row) and the metric definitions."""
    cols = list(paper.METRIC_COLUMNS)
    lines = ["| model | source | " + " | ".join(cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for _, row in frame.iterrows():
        ours = [format_metric(row[m]) for m in cols]
        theirs = [format_metric(row[f"{m} (paper)"]) for m in cols]
        profile = row.get("profile")
        source = "ours" + (f" ({profile})" if isinstance(profile, str) and profile else "")
        lines.append(f"| {row['model']} | {source} | " + " | ".join(ours) + " |")
        lines.append("| | paper | " + " | ".join(theirs) + " |")
    attrs = frame.attrs
    title = f"**{attrs.get('table', 'Table')}.** {attrs.get('title', '')}".rstrip()
    n = attrs.get("n")
    ours = f"Ours: data set {attrs.get('data', '?')}" + (f", {n:,} loops per row" if isinstance(n, int) else "")
    if attrs.get("manipulation"):
        ours += f", manipulation {attrs['manipulation']} (mode {attrs.get('mode')})"
    ours += f", seed {attrs.get('seed')}."
    text = [title, "", *lines, "", f"{ours} Paper: {attrs.get('paper_data', 'LMD-full')}."]
    if attrs.get("missing"):
        text.append(f"Not evaluated (no checkpoint): {', '.join(attrs['missing'])}.")
    definitions = attrs.get("definitions") or {}
    if definitions:
        text += ["", *[f"- {k}: {v}" for k, v in definitions.items()]]
    return "\n".join(text) + "\n"
