"""The training data on the device (Experiment Details: every epoch visits the training split in batches): the
bit-packed split kept resident, batches unpacked and packed with tensor ops, an epoch's batches, and the bass
transposition augmentation.

Data never goes through a per-sample Python loader: the whole bit-packed split (1,488 bytes a loop) stays on the
device (on the GPU when there is one and it fits) and each batch is unpacked there. Generated loops go the other
way: packed on the device (``pack_batch``) so that a batch crosses to the host in 1,488 bytes a loop, not 11,904.
"""

from __future__ import annotations

import numpy as np
import torch

from loopkit.data.dataset import PACKED_BYTES, ROLL_SHAPE, PackedRolls
from loopkit.data.pianoroll import BASS_COLUMNS

_SHIFTS: dict[torch.device, torch.Tensor] = {}  # the bit shifts of unpack_batch / pack_batch, one copy per device


def _shifts(device: torch.device) -> torch.Tensor:
    shifts = _SHIFTS.get(device)
    if shifts is None:  # made once per device: a fresh host-to-device copy every batch would block the GPU
        shifts = _SHIFTS[device] = torch.arange(7, -1, -1, dtype=torch.uint8, device=device)
    return shifts


def packed_tensor(rolls: PackedRolls | np.ndarray, device: torch.device) -> torch.Tensor:
    """The (n, 1488) uint8 packed rolls as a tensor, on ``device`` when it fits (else pinned host memory)."""
    packed = np.ascontiguousarray(rolls.packed if isinstance(rolls, PackedRolls) else rolls, dtype=np.uint8)
    if not packed.flags.writeable:  # a memory-mapped set: read it into memory once
        packed = packed.copy()
    tensor = torch.from_numpy(packed)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if tensor.numel() < free // 4:  # leave most of the memory to the model
            return tensor.to(device)
        return tensor.pin_memory()
    return tensor


def unpack_batch(packed: torch.Tensor) -> torch.Tensor:
    """(b, 1488) uint8 -> (b, 128, 93) float32 on the same device (``np.unpackbits`` order), with tensor ops."""
    bits = (packed.unsqueeze(-1) >> _shifts(packed.device)) & 1
    return bits.reshape(packed.shape[0], *ROLL_SHAPE).float()


def pack_batch(rolls: torch.Tensor) -> torch.Tensor:
    """(b, 128, 93) bool -> (b, 1488) uint8 on the same device, the inverse of ``unpack_batch`` (``np.packbits``
    order: the first cell of each byte is its highest bit)."""
    bits = rolls.reshape(rolls.shape[0], PACKED_BYTES, 8).to(torch.uint8)
    return (bits << _shifts(rolls.device)).sum(-1, dtype=torch.uint8)


class HostCopies:
    """Packed batches (b, 1488) uint8 copied into a host array ``out`` without the device waiting for each copy.

    On CUDA each batch is copied into pinned memory asynchronously and written into ``out`` when the next batch
    is put (or at ``flush``), so the copy of one batch runs while the device computes the next. Elsewhere each
    batch is written at once. Call ``flush`` after the last batch.
    """

    def __init__(self, out: np.ndarray):
        self.out = out
        self.pending: tuple[int, torch.Tensor, torch.cuda.Event] | None = None

    def put(self, start: int, packed: torch.Tensor) -> None:
        if packed.device.type != "cuda":
            self.out[start : start + len(packed)] = packed.numpy()
            return
        host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
        host.copy_(packed, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self.flush()
        self.pending = (start, host, done)

    def flush(self) -> None:
        if self.pending is not None:
            start, host, done = self.pending
            done.synchronize()
            self.out[start : start + len(host)] = host.numpy()
            self.pending = None


def fetch(packed: torch.Tensor, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows ``idx`` of the resident packed set, unpacked to floats on ``device``."""
    if packed.device != device:
        return unpack_batch(packed[idx.cpu()].to(device, non_blocking=True))
    return unpack_batch(packed[idx])


def epoch_batches(order: torch.Tensor, batches: int, equal: bool = False) -> tuple[torch.Tensor, ...]:
    """An epoch's ``batches`` batches of indices from ``order`` (a permutation of the training split).

    By default near-equal batches (sizes differ by at most one), every loop once. With ``equal`` every batch has
    ``ceil(n / batches)`` loops: the last ``batches * size - n`` places are filled with the first loops of the
    order, so those few loops are seen twice in the epoch. Static shapes are what a compiled model needs (a
    batch one loop shorter is a new shape, and a recompilation).
    """
    if not equal:
        return torch.tensor_split(order, batches)
    size = -(-len(order) // batches)
    filled = torch.cat([order, order[: size * batches - len(order)]])
    return tuple(filled.view(batches, size).unbind(0))


def transpose_bass(x: torch.Tensor, semitones: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Move each loop's bass line by a random whole number of semitones (the ``transpose`` augmentation).

    x (b, t, p) float: for each loop a shift k is drawn uniformly from ``-semitones .. semitones`` and then clipped
    to the range that keeps its lowest and highest bass note inside the bass columns (a loop without bass is not
    moved). Drum columns are unchanged. Returns a new tensor.
    """
    b = x.shape[0]
    n_bass = BASS_COLUMNS.stop - BASS_COLUMNS.start
    bass = x[..., BASS_COLUMNS]
    used = bass.amax(dim=1) > 0  # (b, n_bass)
    cols = torch.arange(n_bass, device=x.device)
    low = torch.where(used, cols, n_bass).amin(dim=1)
    high = torch.where(used, cols, -1).amax(dim=1)
    k = torch.randint(-semitones, semitones + 1, (b,), device=x.device, generator=generator)
    k = torch.where(used.any(dim=1), torch.clamp(k, -low, n_bass - 1 - high), torch.zeros_like(k))
    src = cols[None, :] - k[:, None]  # output column c takes input column c - k
    valid = (src >= 0) & (src < n_bass)
    moved = torch.gather(bass, 2, src.clamp(0, n_bass - 1)[:, None, :].expand(-1, x.shape[1], -1))
    out = x.clone()
    out[..., BASS_COLUMNS] = moved * valid[:, None, :]
    return out


__all__ = ["HostCopies", "epoch_batches", "fetch", "pack_batch", "packed_tensor", "transpose_bass", "unpack_batch"]
