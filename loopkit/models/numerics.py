"""The arithmetic a run does on its device (Experiment Details: float32 training on PyTorch 1.9): TF32, cuDNN
autotuning and deterministic algorithms, set for one run and restored after it; the exact float32 block; autocast.

PyTorch keeps these settings process-wide. ``run_numerics`` sets them for the duration of one training run and
puts back what it found, so that a deterministic run does not leave PyTorch's deterministic algorithms on for
whatever the process does next (generation, another run). ``exact_float32`` is the block in which the VQ-VAE
computes its codes: autocast off and TF32 off for CUDA matmuls *and* cuDNN convolutions, whatever the run around
it asks for, so that a loop's codes are the same IEEE float32 result on every device.

The paper's float32 and TF32. The paper trained "float32" on PyTorch 1.9 on an RTX 3090 (an Ampere GPU), where
``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32`` were both on by default: its
matmuls and convolutions ran in TF32 (a 10-bit mantissa) on tensor cores. ``TrainConfig.tf32`` names that
choice; its default follows PyTorch 1.9, the arithmetic and the speed the paper's numbers and its "under 8 hours
per model" came from. ``tf32=False`` trains in IEEE float32 throughout (slower on Ampere and newer, the same on
older GPUs and on CPUs, which have no TF32).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch

#: The autocast dtypes of ``TrainConfig.amp``.
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: Where cuBLAS needs a fixed workspace for deterministic results (PyTorch's documented value).
CUBLAS_WORKSPACE = ("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def amp_dtype(model, device: torch.device, amp: str) -> torch.dtype | None:
    """The autocast dtype of a model under ``TrainConfig.amp``, or None for float32: mixed precision only on
    CUDA, for a model marked ``amp_safe``, when ``amp`` is "bf16" or "fp16"; "off" (every profile's default)
    is float32 throughout. A CPU run asked for "bf16" records the setting and trains in float32."""
    if device.type == "cuda" and amp in AMP_DTYPES and getattr(model, "amp_safe", False):
        return AMP_DTYPES[amp]
    return None


def autocast_for(model, device: torch.device, amp: str):
    """The autocast context for ``amp_dtype(model, device, amp)`` (disabled when that is None)."""
    dtype = amp_dtype(model, device, amp)
    return torch.autocast(device_type=device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def numerics_state() -> dict:
    """The process-wide settings ``run_numerics`` changes, as they are now."""
    return {
        "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cublas_workspace": os.environ.get(CUBLAS_WORKSPACE[0]),
    }


def _restore(state: dict) -> None:
    torch.backends.cuda.matmul.allow_tf32 = state["matmul_tf32"]
    torch.backends.cudnn.allow_tf32 = state["cudnn_tf32"]
    torch.backends.cudnn.benchmark = state["cudnn_benchmark"]
    torch.backends.cudnn.deterministic = state["cudnn_deterministic"]
    torch.use_deterministic_algorithms(state["deterministic_algorithms"], warn_only=state["deterministic_warn_only"])
    if state["cublas_workspace"] is None:
        os.environ.pop(CUBLAS_WORKSPACE[0], None)
    else:
        os.environ[CUBLAS_WORKSPACE[0]] = state["cublas_workspace"]


@contextmanager
def run_numerics(device: torch.device, tf32: bool, deterministic: bool) -> Iterator[dict]:
    """The numerics of one training run on ``device``, restored to what they were when the block ends.

    On CUDA: TF32 for matmuls and cuDNN convolutions as ``tf32`` says (``TrainConfig.tf32``); with
    ``deterministic``, no cuDNN autotuning, cuDNN's deterministic algorithms and PyTorch's
    (``torch.use_deterministic_algorithms``, with the cuBLAS workspace it needs), so that a resumed GPU run ends
    with exactly the weights of an uninterrupted one; without it, cuDNN autotuning. A CPU run changes nothing: it
    has no TF32 and is deterministic as it is. Yields the settings in force inside the block.
    """
    saved = numerics_state()
    try:
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cudnn.benchmark = not deterministic
            torch.backends.cudnn.deterministic = deterministic
            if deterministic:
                os.environ.setdefault(*CUBLAS_WORKSPACE)
            torch.use_deterministic_algorithms(deterministic, warn_only=False)
        yield numerics_state()
    finally:
        _restore(saved)


class exact_float32:
    """Autocast off, and TF32 off for CUDA matmuls and cuDNN convolutions, inside the block (restored after).

    The flags are process-wide, so they are set whatever the tensors' device (on a CPU they change nothing):
    the block means the same everywhere, and a CPU test can see that it is in force.
    """

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        self.autocast = torch.autocast(device_type=self.device.type, enabled=False)
        self.autocast.__enter__()
        self.tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        return self

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.tf32
        return self.autocast.__exit__(*exc)


__all__ = ["AMP_DTYPES", "amp_dtype", "autocast_for", "exact_float32", "numerics_state", "run_numerics"]
