"""The paper's tables reproduced: Table 1 (reconstruction error of the four models), Table 2 (VQ-VAE latent sizes)
and Tables 3 and 4 (musical metrics of generated loops, without and with latent manipulation).

Each table puts the paper's published value (``loopkit.paper``) beside ours, and names the profile and the data
set that ours come from, so that a number from the small ``cpu`` profile on the demo corpus is never mistaken
for one from the paper's setting on LMD.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from loopkit import paper
from loopkit.atomic import write_bytes, write_text
from loopkit.models.checkpoints import (
    BEST,
    file_digest,
    load_generator,
    load_model,
    load_train_codes,
    resolve_device,
    run_label,
)
from loopkit.config import ALL_NAMES, CONTINUOUS_MODELS, MODEL_NAMES, PAPER_NAMES, TrainConfig
from loopkit.data.dataset import ROLL_CELLS, Loops, as_loops
from loopkit.errors import LoopkitError
from loopkit.generation.generate import generate, sample_codes
from loopkit.generation.latent import LatentCopy, SamplingRequest
from loopkit.metrics.memorisation import memorisation
from loopkit.metrics.paper_metrics import METRIC_DEFINITIONS, musical_metrics, unique_pitch
from loopkit.generation.sampling import decode_codes
from loopkit.training.train import codes_of, reconstruction_report, train
from loopkit.evaluation.uncertainty import (
    bootstrap_means,
    metric_replicates,
    music_bounds,
    per_loop_metrics,
    rule_columns,
)
from loopkit.evaluation.table_format import BOOTSTRAP, COPIES, NEAREST


def _data_label(loops: Loops) -> str:
    name = Path(loops.path).name if loops.path else "in-memory"
    return f"{name} ({loops.fingerprint})"


#: The reference row of Table 1: a "model" that reconstructs every loop as silence.
EMPTY_OUTPUT = "Empty output (all cells off)"


def _on_cells(loops: Loops) -> np.ndarray:
    """Each loop's share of cells that are on: the empty output's error on it, (n,) float."""
    return np.unpackbits(loops.rolls.packed, axis=1).sum(axis=1, dtype=np.int64) / ROLL_CELLS


def empty_output_error(loops: Loops) -> float:
    """The reconstruction error of an output of pure silence: the share of the loops' cells that are on."""
    if len(loops) == 0:
        raise LoopkitError("no loops to measure")
    return float(np.unpackbits(loops.rolls.packed, axis=1).sum(dtype=np.int64)) / (len(loops) * ROLL_CELLS)


def table1(checkpoints: Mapping[str, str | os.PathLike], data: Loops | str | os.PathLike,
           batch_size: int = 2048, device=None, baseline: bool = True, bass_rule: str = "paper") -> pd.DataFrame:
    """Table 1: each model's reconstruction error on the validation split, beside the paper's, and the same on
    the training split (learning apart from generalisation).

    Reconstruction error = mean per-cell Hamming distance between a loop and its thresholded reconstruction
    (``loopkit.training.train.reconstruction_report``; the paper's Table 1 definition). Beside it, for each split, the
    share of the empty output's error the model removes (``1 - error / empty``: 0 is no better than silence, 1 a
    perfect reconstruction) and FND/FNB of the reconstructions (every loop has both, so they say whether a model
    keeps the loops' starting point).

    Parameters
    ----------
    checkpoints : model name ("ar_lstm_vae", ...) -> checkpoint path (e.g. a run's ``best.pt``)
    data : the loop data set (its "valid" and "train" splits are evaluated)
    baseline : add a last row, ``EMPTY_OUTPUT``: the error of reconstructing every loop as silence, i.e. the
        share of cells that are on. A model must beat it to have learned anything beyond "mostly off".
    bass_rule : "paper" (every sigmoid >= 0.5) or a labelled variant (``loopkit.models.blocks.BASS_RULES``)

    Returns
    -------
    DataFrame, one row per model in the paper's order: ``model`` (the paper's name), ``reconstruction_error``
    (ours, validation split), ``paper`` (Table 1), ``removed`` (share of the empty output's error removed),
    ``FND``, ``FNB`` (of the validation reconstructions), ``train_error``, ``train_removed``, ``train_FND``,
    ``train_FNB`` (the same on the training split), ``profile``, ``run`` (``loopkit.models.checkpoints.run_label``:
    "complete", or a rehearsal's "rehearsal: 2 of 2,000 epochs"), ``epoch`` and ``steps`` (of the checkpoint),
    ``epochs_scheduled`` (of its training run), ``data`` (data set name and fingerprint), ``trained_on_same_data``
    (the checkpoint's data fingerprint equals this data set's). ``attrs[BOOTSTRAP]`` holds the bootstrap replicates
    of each row's validation error over the validation loops (the same loops for every row: paired).
    """
    loops = as_loops(data)
    valid, train_split = loops.split("valid"), loops.split("train")
    if len(valid) == 0:
        raise LoopkitError("the data set has no validation loops to evaluate")
    device = resolve_device(device)
    unknown = sorted(set(checkpoints) - set(MODEL_NAMES))
    if unknown:
        raise LoopkitError(f"unknown model(s) {', '.join(unknown)}; Table 1 has {', '.join(MODEL_NAMES)}")
    empty = {"valid": empty_output_error(valid)}
    if len(train_split):
        empty["train"] = empty_output_error(train_split)
    rows, replicates = [], {}
    for name in [n for n in MODEL_NAMES if n in checkpoints]:
        model = load_model(checkpoints[name], device)
        if model.checkpoint["model"] != name:
            raise LoopkitError(f"{checkpoints[name]} holds a {model.checkpoint['model']}, not a {name}")
        label = PAPER_NAMES[name]
        amp = model.checkpoint["train_config"].get("amp", "off")
        rep = reconstruction_report(model, valid, batch_size, device, amp, bass_rule)
        replicates[label] = {"reconstruction_error": bootstrap_means(rep["errors"])}
        row = {"model": label, "reconstruction_error": rep["error"], "paper": paper.TABLE1_RECONSTRUCTION[label],
               "removed": 1 - rep["error"] / empty["valid"], "FND": rep["FND"], "FNB": rep["FNB"]}  # fmt: skip
        if len(train_split):
            rep = reconstruction_report(model, train_split, batch_size, device, amp, bass_rule)
            row.update(train_error=rep["error"], train_removed=1 - rep["error"] / empty["train"],
                       train_FND=rep["FND"], train_FNB=rep["FNB"])  # fmt: skip
        row.update(profile=model.checkpoint["profile"], run=run_label(model.checkpoint),
                   epoch=model.checkpoint["epoch"], steps=model.checkpoint["step"],
                   epochs_scheduled=epochs_scheduled(model.checkpoint, len(loops.split("train"))),
                   data=_data_label(loops),
                   trained_on_same_data=model.checkpoint["data_fingerprint"] == loops.fingerprint)  # fmt: skip
        rows.append(row)
    if baseline:
        replicates[EMPTY_OUTPUT] = {"reconstruction_error": bootstrap_means(_on_cells(valid))}
        row = {"model": EMPTY_OUTPUT, "reconstruction_error": empty["valid"], "paper": float("nan"), "removed": 0.0,
               "FND": 0.0, "FNB": 0.0, "data": _data_label(loops)}  # fmt: skip
        if "train" in empty:
            row.update(train_error=empty["train"], train_removed=0.0, train_FND=0.0, train_FNB=0.0)
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs.update(bass_rule=bass_rule, **{BOOTSTRAP: replicates})
    return frame


def epochs_scheduled(meta: Mapping, n_train: int) -> int:
    """The length of a checkpoint's training schedule in epochs: recorded with the run, or (for older checkpoints)
    ``TrainConfig.epochs_for`` the training split of ``n_train`` loops (its steps, if sized so)."""
    if meta.get("epochs_scheduled"):
        return int(meta["epochs_scheduled"])
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in meta["train_config"].items() if k in known}).epochs_for(n_train)


def table2_run_name(t: int, L: int, K: int) -> str:
    """The run directory of one Table 2 cell under ``out``."""
    return f"vq_vae_t{t}_L{L}_K{K}"


def table2(data: Loops | str | os.PathLike, profile: str, out: str | os.PathLike,
           grid: Iterable[tuple[int, int, int]] | None = None, device=None, seed: int = 0, progress: bool = True,
           epochs: int | None = None, batch_size: int = 2048,
           reuse: Mapping[tuple[int, int, int], str | os.PathLike] | None = None,
           steps: int | None = None, train_settings: Mapping | None = None) -> pd.DataFrame:  # fmt: skip
    """Table 2: train the VQ-VAE for each latent size (t, L, K) under ``profile`` and report reconstruction error.

    Each cell trains (or resumes, or reuses a finished run) in ``out/vq_vae_t{t}_L{L}_K{K}`` with the profile's
    VQ-VAE settings and t, L, K overridden; for t = 64 the encoder downsamples once less. The error is that of
    the best checkpoint on the validation split.

    Parameters
    ----------
    grid : (t, L, K) triples; default the paper's six rows (``loopkit.paper.TABLE2_LATENT_SIZE``)
    epochs, steps : the length of each cell's run, in epochs or in optimizer steps (default: the profile's)
    reuse : (t, L, K) -> a checkpoint to report instead of training that cell: the main VQ-VAE is the paper's
        (32, 16, 512) cell when it trained with the same settings (the ``paper`` profile), so it is not trained
        twice
    train_settings : ``TrainConfig`` settings over the profile's for every cell (e.g. a rehearsal's
        ``until_epoch``); ``epochs``, when given, comes after them

    Returns
    -------
    DataFrame with ``t``, ``L``, ``K``, ``reconstruction_error`` (ours, validation split), ``paper`` (NaN where
    the paper has no such row), ``removed`` (share of the empty output's error removed), ``train_error`` and
    ``train_removed`` (the same on the training split), ``profile``, ``run`` (as in ``table1``), ``epoch`` and
    ``steps`` (optimizer steps) of the kept checkpoint, ``epochs_scheduled``, ``data``; ``attrs[BOOTSTRAP]`` the
    bootstrap replicates of each cell's validation error (keyed by ``table2_run_name``; the same validation loops
    for every cell: paired).
    """
    loops = as_loops(data)
    device = resolve_device(device)
    grid = list(grid) if grid is not None else list(paper.TABLE2_LATENT_SIZE)
    rows, replicates = [], {}
    reuse = {tuple(k): Path(v) for k, v in (reuse or {}).items()}
    empty = {split: empty_output_error(loops.split(split)) for split in ("valid", "train")}
    for t, L, K in grid:
        if (t, L, K) in reuse:
            best = reuse[(t, L, K)]
        else:
            best = train("vq_vae", loops, profile, Path(out) / table2_run_name(t, L, K), device=device, seed=seed,
                         progress=progress, epochs=epochs,
                         train_settings={**(train_settings or {}), **({"steps": steps} if steps else {})},
                         overrides={"latent_steps": t, "latent_dim": L, "codebook_size": K})
        model = load_model(best, device)
        c = model.config
        if (c.latent_steps, c.latent_dim, c.codebook_size) != (t, L, K):
            raise LoopkitError(f"{best} holds a VQ-VAE with (t, L, K) = {(c.latent_steps, c.latent_dim, c.codebook_size)}, "
                               f"not {(t, L, K)}")
        amp = model.checkpoint["train_config"].get("amp", "off")
        report = reconstruction_report(model, loops.split("valid"), batch_size, device, amp)
        valid = report["error"]
        replicates[table2_run_name(t, L, K)] = {"reconstruction_error": bootstrap_means(report["errors"])}
        fit = reconstruction_report(model, loops.split("train"), batch_size, device, amp)["error"]
        rows.append(
            {
                "t": t,
                "L": L,
                "K": K,
                "reconstruction_error": valid,
                "paper": paper.TABLE2_LATENT_SIZE.get((t, L, K), float("nan")),
                "removed": 1 - valid / empty["valid"],
                "train_error": fit,
                "train_removed": 1 - fit / empty["train"],
                "profile": model.checkpoint["profile"],
                "run": run_label(model.checkpoint),
                "epoch": model.checkpoint["epoch"],
                "steps": model.checkpoint["step"],
                "epochs_scheduled": epochs_scheduled(model.checkpoint, len(loops.split("train"))),
                "data": _data_label(loops),
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs[BOOTSTRAP] = replicates
    return frame


# ---------------------------------------------------------------------------------------------------------
# Tables 3 and 4: the musical metrics of generated loops (Quantitative Evaluation, Musical Metric Results,
# Manipulating Latent Space of VQ-VAE). ``loopkit.generation.generate`` samples, ``loopkit.metrics.paper_metrics``
# measures.

#: The VQ-VAE rows of Tables 3 and 4: "VQ-VAE (argmax)", "(temp 1)", "(temp 1.5)", "(temp 2)".
METRIC_TABLE_TEMPERATURES = ("argmax", 1.0, 1.5, 2.0)


def run_checkpoints(runs: str | os.PathLike) -> dict[str, Path]:
    """The best checkpoint of each model found in a runs folder (``<runs>/<name>/best.pt``), by model name
    (``ar_lstm_vae``, ``nonar_lstm_vae``, ``cnn_vae``, ``vq_vae``, ``prior``); models without one are left out.
    A runs folder holds one run per model (what ``loopkit.training.train.train`` writes into ``<runs>/<name>``)."""
    root = Path(runs)
    if not root.is_dir():
        raise FileNotFoundError(f"no runs folder at {root} (it holds <model>/{BEST} for each trained model)")
    return {name: root / name / BEST for name in ALL_NAMES if (root / name / BEST).is_file()}


#: The extra column of Tables 3 and 4: UP counted per bar, the paper's wording (``metrics.UNIQUE_PITCH_SPANS``).
UP_PER_BAR = "UP (per bar)"
#: Bumped when a row gains columns, so that rows cached by an older loopkit are computed again.
ROW_FORMAT = 4
#: The key under which a computed row carries its bootstrap replicates until ``_metric_frame`` moves them to
#: ``attrs[BOOTSTRAP]``.
_ROW_REPLICATES = "_bootstrap"


def _metric_row(label: str, values: Mapping[str, float], published: Mapping[str, float], info: dict,
                rolls, train, codes=None, train_codes=None, bounds=None) -> dict:  # fmt: skip
    """One row: the model, each metric beside the paper's value, UP per bar, the memorisation check against the
    training split ``train`` (the training set's own row: each loop left out), the rules' columns
    (``rule_columns``; ``bounds`` default: measured on ``train``), then ``info`` (n, profile, ...), and the
    bootstrap replicates of each metric's mean over the row's loops (``loopkit.evaluation.uncertainty``; ``codes`` and
    ``train_codes`` as in ``musical_metrics``)."""
    row: dict = {"model": label}
    for m in paper.METRIC_COLUMNS:
        row[m] = float(values[m])
        row[f"{m} (paper)"] = float(published.get(m, float("nan")))
    row[UP_PER_BAR] = float(unique_pitch(rolls, span="bar"))
    memo = memorisation(rolls, train, exclude_self=rolls is train)
    row[COPIES], row[NEAREST] = memo["copies"], memo["nearest"]
    per_loop = per_loop_metrics(rolls, codes, train_codes)
    rules, rule_values = rule_columns(rolls, per_loop["HD"], bounds if bounds is not None else music_bounds(train))
    row.update(rules)
    row.update(info)
    replicates = metric_replicates(per_loop)
    replicates.update({k: bootstrap_means(v) for k, v in rule_values.items()})
    row[_ROW_REPLICATES] = {m: r.tolist() for m, r in replicates.items()}
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
        self.bounds = music_bounds(self.train.rolls)  # what counts as music (claim (l)), from the training loops

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
        """The VQ-VAE's codes of the training split, (n_train, t) int64 (OS compares with them): the very array
        the prior was trained on when it is stored beside it (``load_train_codes``), else computed in float32."""
        if self._train_codes is None:
            stored = load_train_codes(self.checkpoints["prior"])
            if stored is not None and len(stored) == len(self.train):
                self._train_codes = stored
            else:
                vq, _ = self.vq()
                self._train_codes = codes_of(vq, self.train.rolls, self.batch_size or 2048, self.device).cpu().numpy()
        return self._train_codes

    def info(self, model) -> dict:
        ckpt = model.checkpoint
        return {"n": self.n, "profile": ckpt["profile"], "run": run_label(ckpt), "epochs": ckpt["epoch"],
                "data": self.data, "trained_on_same_data": ckpt["data_fingerprint"] == self.loops.fingerprint}  # fmt: skip

    # -- cache -------------------------------------------------------------------------------------------
    def _key(self, **parts) -> tuple[dict, str]:
        key = {"data": self.loops.fingerprint, "n": self.n, "seed": self.seed, "batch_size": self.batch_size,
               "device": self.device.type, "row_format": ROW_FORMAT, **parts}  # fmt: skip
        text = json.dumps(key, sort_keys=True, default=str)
        return key, hashlib.sha256(text.encode()).hexdigest()[:16]

    def cached_row(self, kind: str, compute, **parts) -> dict:
        """``compute()`` once per key, timed (the row's ``seconds``: generating and measuring it): a finished row is
        kept as JSON in the cache folder, so an interrupted evaluation resumes at the first row it had not
        finished (a row read back keeps the seconds it took)."""
        if self.cache is None:
            return _timed(compute)
        key, digest = self._key(kind=kind, **parts)
        path = self.cache / f"row-{kind}-{digest}.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored.get("key") == json.loads(json.dumps(key, default=str)):
                return stored["row"]
        row = _timed(compute)
        self.cache.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps({"key": key, "row": row}, indent=1, default=str))
        return row

    def sampled_codes(self, temperature: float):
        """Unmanipulated code sequences at ``temperature`` (cached as .npy): Table 4's "after" rows copy latent
        steps in the very sequences Table 3's rows measured, a paired comparison."""

        def sample():
            _, prior = self.vq()
            return sample_codes(prior, self.n, request=SamplingRequest(temperature), seed=self.seed,
                                batch_size=self.batch_size, device=self.device, progress=self.progress)  # fmt: skip

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
            return _metric_row("Training set", values, paper.TABLE3_MUSICAL_METRICS["Training set"], info,
                               self.train.rolls, self.train.rolls, codes, codes, self.bounds)

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
            return _metric_row(label, values, paper.TABLE3_MUSICAL_METRICS[label], self.info(model), gen.rolls,
                               self.train.rolls, bounds=self.bounds)

        return self.cached_row(name, compute, checkpoint=self.digest(name))

    def vq_row(self, request: SamplingRequest, published: Mapping[str, Mapping[str, float]],
               bass_rule: str = "paper") -> dict:  # fmt: skip
        """The VQ-VAE's row for ``request`` (validated by the table that asks: its temperature, copy and mode)."""
        temperature, plan = request.temperature, request.copy
        label = f"VQ-VAE ({request.label})"
        paper_label = label
        if bass_rule != "paper":
            label += f", bass rule '{bass_rule}' (not the paper's)"

        def compute():
            vq, prior = self.vq()
            if plan is None or request.mode == "after":
                codes = request.after(self.sampled_codes(temperature))
            else:
                codes = sample_codes(prior, self.n, request=request, seed=self.seed, batch_size=self.batch_size,
                                     device=self.device, progress=self.progress)  # fmt: skip
            rolls = decode_codes(vq, codes, packed=True, batch_size=self.batch_size, device=self.device,
                                 progress=self.progress, bass_rule=bass_rule)  # fmt: skip
            values = musical_metrics(rolls, codes, self.train_codes(), progress=self.progress)
            info = self.info(vq) | {"temperature": temperature, "prior_epochs": prior.checkpoint["epoch"],
                                    "bass_rule": bass_rule}  # fmt: skip
            shown = published.get(paper_label, {}) if bass_rule == "paper" else {}
            return _metric_row(label, values, shown, info, rolls, self.train.rolls, codes, self.train_codes(),
                               self.bounds)

        return self.cached_row("vq_vae", compute, vq=self.digest("vq_vae"), prior=self.digest("prior"),
                               temperature=temperature, copy=plan.to_dict() if plan is not None else None,
                               mode=request.mode if plan is not None else None, bass_rule=bass_rule)  # fmt: skip


def _timed(compute) -> dict:
    started = time.perf_counter()
    row = compute()
    row["seconds"] = time.perf_counter() - started
    return row


def _metric_frame(rows: list[dict], attrs: dict) -> pd.DataFrame:
    replicates = {}
    for row in rows:
        stored = row.pop(_ROW_REPLICATES, None)
        if stored:
            replicates[row["model"]] = {m: np.asarray(r, dtype=float) for m, r in stored.items()}
    frame = pd.DataFrame(rows)
    frame.attrs.update(attrs)
    frame.attrs[BOOTSTRAP] = replicates
    return frame


def table3(runs: str | os.PathLike | Mapping[str, str | os.PathLike], data: Loops | str | os.PathLike, *,
           n: int | None = None, temperatures=METRIC_TABLE_TEMPERATURES, seed: int = 0, device=None,
           batch_size: int | None = None, cache: str | os.PathLike | None = None, progress: bool = True,
           bass_rules: Iterable[str] = ("paper",)) -> pd.DataFrame:  # fmt: skip
    """Table 3: the musical metrics (HD, FND, FNB, DB, OS, US, UP, ND) of the training set and of loops generated
    by each model, beside the paper's published values.

    Rows, in the paper's order: "Training set" (the training split itself; its codes, for OS and US, are the
    trained VQ-VAE's), "AR LSTM-VAE", "NonAR LSTM-VAE", "CNN-VAE" (z ~ N(0, I); OS and US NaN as the paper's
    "-") and "VQ-VAE (argmax)", "(temp 1)", "(temp 1.5)", "(temp 2)" (the prior at each temperature). Each
    generated row holds ``n`` loops, by default as many as the training split (the paper: 120,600), sampled
    with a fresh generator seeded ``seed``. Metric definitions: ``loopkit.metrics.paper_metrics.METRIC_DEFINITIONS``.

    Parameters
    ----------
    runs : a runs folder (``<runs>/<model>/best.pt``, see ``run_checkpoints``) or a mapping model name ->
        checkpoint (``ar_lstm_vae``, ``nonar_lstm_vae``, ``cnn_vae``, ``vq_vae``, ``prior``); the rows of models
        without a checkpoint are left out and named in ``attrs["missing"]``
    data : the loop data set the models were trained on (its "train" split is the reference)
    n : loops generated per row (default: the training split's size)
    temperatures : the VQ-VAE rows
    bass_rules : the VQ-VAE rows are decoded under each of these (``loopkit.models.blocks.BASS_RULES``): "paper"
        gives the paper's rows; any other adds rows labelled as not the paper's, without paper values
    cache : a folder that keeps every finished row (and the sampled codes): re-running resumes, and
        ``table4`` with the same cache reuses the codes
    device, batch_size, progress : as in ``loopkit.generation.generate.generate``

    Returns
    -------
    DataFrame: ``model``; for each metric ``M`` the columns ``M`` (ours) and ``M (paper)``; ``n`` (loops
    measured), ``UP (per bar)`` (UP under the paper's wording), ``copies`` and ``nearest`` (the memorisation
    check, ``loopkit.metrics.memorisation``: the share of the row's loops that are a training loop cell for cell, and
    the median per-cell distance to the nearest training loop; the training set's row measures each of its loops
    against the others), ``profile``, ``run`` (``table1``'s) and ``epochs`` (of the checkpoint), ``data`` (data
    set name and fingerprint), ``trained_on_same_data``, ``seconds`` (to generate and measure the row); VQ-VAE
    rows also ``temperature``,
    ``prior_epochs`` and ``bass_rule``. ``attrs`` names the table,
    the data, n, seed, the missing models and the metric definitions, and holds under ``BOOTSTRAP`` the bootstrap
    replicates of each row's metrics over its loops (rows of the same length share their resampling weights:
    Table 4 "after" and Table 3 are paired, ``loopkit.evaluation.uncertainty``).
    """
    requests = [SamplingRequest.of(t) for t in temperatures]  # validated before any row is computed
    ev = _MetricTables(runs, data, n, seed, device, batch_size, cache, progress)
    rows = [ev.training_row()]
    missing = []
    for name in CONTINUOUS_MODELS:
        if name in ev.checkpoints:
            rows.append(ev.continuous_row(name))
        else:
            missing.append(name)
    if ev.has_vq():
        rows += [ev.vq_row(r, paper.TABLE3_MUSICAL_METRICS, rule) for rule in bass_rules for r in requests]
    else:
        missing += [m for m in ("vq_vae", "prior") if m not in ev.checkpoints]
    attrs = {"table": "Table 3", "title": "Musical metric results", "data": ev.data, "n": ev.n, "seed": seed,
             "missing": missing, "definitions": dict(METRIC_DEFINITIONS),
             "paper_data": f"LMD-full, {paper.CORPUS['train']:,} loops per row"}  # fmt: skip
    return _metric_frame(rows, attrs)


def table4(runs: str | os.PathLike | Mapping[str, str | os.PathLike], data: Loops | str | os.PathLike, *,
           n: int | None = None, temperatures=METRIC_TABLE_TEMPERATURES, copy="paper", mode: str = "after",
           seed: int = 0, device=None, batch_size: int | None = None, cache: str | os.PathLike | None = None,
           progress: bool = True, bass_rules: Iterable[str] = ("paper",)) -> pd.DataFrame:  # fmt: skip
    """Table 4: Table 3's VQ-VAE rows with the latent space manipulated, beside the paper's published values.

    The paper copies latent steps 0, 1 onto 16, 17 before decoding (``copy="paper"``; see
    ``loopkit.generation.latent.LatentCopy``; a bar form such as ``"ABAB ABCD"`` is the general case). ``mode="after"``
    copies within the sequences sampled with ``seed``: the same sequences Table 3 measured when the seeds agree
    (and, with a shared ``cache``, literally reused), so it is paired with Table 3 and its US cannot rise.
    ``mode="condition"`` samples afresh with the copied codes forced, so later codes follow the copy. The paper
    does not say which it did (``loopkit.generation.latent``). Other parameters and the columns as in ``table3``;
    ``attrs["manipulation"]`` describes the copy.
    """
    unplanned = [SamplingRequest.of(t, None, mode) for t in temperatures]  # validated before any row is computed
    ev = _MetricTables(runs, data, n, seed, device, batch_size, cache, progress)
    if not ev.has_vq():
        absent = [m for m in ("vq_vae", "prior") if m not in ev.checkpoints]
        raise FileNotFoundError(f"Table 4 needs the VQ-VAE and its prior; no checkpoint for {', '.join(absent)}")
    vq, _ = ev.vq()
    plan = LatentCopy.parse(copy, vq.latent_steps)
    if plan is None:
        raise LoopkitError("Table 4 manipulates the latent space: give copy='paper' or a bar form")
    requests = [dataclasses.replace(r, copy=plan) for r in unplanned]
    rows = [ev.vq_row(r, paper.TABLE4_MANIPULATED, rule) for rule in bass_rules for r in requests]
    for row in rows:
        row.update(manipulation=plan.name, mode=mode)
    attrs = {"table": "Table 4", "title": "Musical metrics by manipulating latent space", "data": ev.data,
             "n": ev.n, "seed": seed, "manipulation": plan.describe(), "mode": mode, "missing": [],
             "definitions": dict(METRIC_DEFINITIONS),
             "paper_data": f"LMD-full, {paper.CORPUS['train']:,} loops per row"}  # fmt: skip
    return _metric_frame(rows, attrs)
