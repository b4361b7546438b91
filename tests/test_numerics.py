"""Exact where the book says exact: the VQ-VAE's code path runs with TF32 off for matmuls and cuDNN, a run's
numerics are set for the run and restored after it, the sampler draws under deterministic algorithms, and packed
batches round-trip on the device. The CUDA tests are skipped, with their reason, where there is no GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from loopkit.training.batches import HostCopies, epoch_batches, pack_batch, unpack_batch
from loopkit.config import model_config
from loopkit.data.dataset import pack_rolls
from loopkit.models import build_model
from loopkit.models.numerics import exact_float32, numerics_state, run_numerics
from loopkit.generation.sampling import sample_categorical
from loopkit.data.synthetic import synthetic_dataset, synthetic_loops

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none on this machine (CPU-only CI)")


@pytest.fixture
def tf32_allowed():
    """Both TF32 switches on (PyTorch 1.9's defaults) for the test, and put back after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_the_code_path_turns_tf32_off_for_matmuls_and_cudnn_and_restores_it(tf32_allowed):
    """Inside VQVAE.codes, as its encoder's first convolution and the nearest-code search run, both TF32 switches
    are off and autocast is off (even under an autocast block); after the call both are on again."""
    vq = build_model("vq_vae", model_config("vq_vae", "smoke")).eval()
    seen = []

    def record(*_):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
                     torch.is_autocast_enabled("cpu")))

    vq.encoder[0].register_forward_pre_hook(record)
    search = vq.quantizer.nearest

    def nearest(z):
        record()
        return search(z)

    vq.quantizer.nearest = nearest
    x = torch.from_numpy(synthetic_loops(4, seed=1).astype(np.float32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        vq.codes(x)
    assert seen == [(False, False, False)] * 2
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_exact_float32_restores_the_switches_after_an_error(tf32_allowed):
    with pytest.raises(RuntimeError):
        with exact_float32(torch.device("cpu")):
            assert not torch.backends.cudnn.allow_tf32
            raise RuntimeError("inside")
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_run_numerics_sets_a_cuda_run_s_switches_and_restores_them():
    """The switches a CUDA run sets (TF32 as asked, deterministic algorithms and no autotuning) hold inside the
    block only; the process's own state comes back, also after an interrupt. (Setting them needs no GPU.)"""
    before = numerics_state()
    with run_numerics(torch.device("cuda"), tf32=False, deterministic=True) as inside:
        assert not inside["matmul_tf32"] and not inside["cudnn_tf32"]
        assert inside["deterministic_algorithms"] and inside["cudnn_deterministic"] and not inside["cudnn_benchmark"]
        assert inside["cublas_workspace"]
    assert numerics_state() == before
    with pytest.raises(KeyboardInterrupt):
        with run_numerics(torch.device("cuda"), tf32=True, deterministic=False) as inside:
            assert inside["matmul_tf32"] and inside["cudnn_tf32"] and inside["cudnn_benchmark"]
            raise KeyboardInterrupt
    assert numerics_state() == before
    with run_numerics(torch.device("cpu"), tf32=False, deterministic=True) as inside:  # a CPU run changes nothing
        assert inside == before


def test_a_deterministic_run_leaves_the_process_as_it_found_it(tmp_path):
    from loopkit.training.train import train

    torch.backends.cudnn.benchmark, saved = True, torch.backends.cudnn.benchmark
    try:
        before = numerics_state()
        train("cnn_vae", synthetic_dataset(24, seed=2), "smoke", tmp_path / "c", device="cpu", progress=False,
              train_settings={"epochs": 1, "deterministic": True, "tf32": False})
        assert numerics_state() == before
    finally:
        torch.backends.cudnn.benchmark = saved


class _Ops(TorchDispatchMode):
    """Records every ATen op with the dtype of its first tensor argument."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        first = next((a for a in args if isinstance(a, torch.Tensor)), None)
        self.calls.append((func.overloadpacket.__name__, first.dtype if first is not None else None))
        return func(*args, **(kwargs or {}))


def test_the_sampler_takes_no_floating_point_cumsum():
    """PyTorch's deterministic algorithms refuse a floating-point cumsum on CUDA: the sampler's cumulative sum is
    over whole-number weights, so generation runs under them."""
    probs = torch.softmax(torch.randn(64, 512, dtype=torch.float64), -1)
    with _Ops() as ops:
        sample_categorical(probs, torch.Generator().manual_seed(0))
    cumsums = [dtype for name, dtype in ops.calls if name == "cumsum"]
    assert cumsums and all(not dtype.is_floating_point for dtype in cumsums)


def test_the_sampler_draws_by_hand():
    """Weights 0, 1, 3 (of 4): u below 1/4 draws index 1, above it index 2; index 0 is never drawn."""
    probs = torch.tensor([[0.0, 1.0, 3.0]] * 4000)
    idx = sample_categorical(probs, torch.Generator().manual_seed(3))
    counts = np.bincount(idx.numpy(), minlength=3)
    assert counts[0] == 0 and abs(counts[1] / 4000 - 0.25) < 0.03


def test_pack_batch_is_np_packbits_and_unpack_batch_inverts_it():
    rolls = synthetic_loops(5, seed=4)
    packed = pack_batch(torch.from_numpy(rolls))
    assert packed.dtype == torch.uint8 and np.array_equal(packed.numpy(), pack_rolls(rolls))
    assert torch.equal(unpack_batch(packed).bool(), torch.from_numpy(rolls))
    out = np.zeros((7, packed.shape[1]), dtype=np.uint8)
    host = HostCopies(out)
    host.put(2, packed)
    host.flush()
    assert np.array_equal(out[2:], packed.numpy()) and not out[:2].any()


def test_equal_batches_fill_the_last_places_with_the_epoch_s_first_loops():
    order = torch.tensor([4, 0, 3, 1, 2, 6, 5])
    near = epoch_batches(order, 3)
    assert [len(b) for b in near] == [3, 2, 2] and torch.equal(torch.cat(near), order)
    equal = epoch_batches(order, 3, equal=True)
    assert [b.tolist() for b in equal] == [[4, 0, 3], [1, 2, 6], [5, 4, 0]]


@pytest.mark.gpu
@CUDA
def test_vqvae_codes_are_identical_with_cudnn_tf32_allowed_or_not_and_equal_the_cpu_s():
    """The paper-sized VQ-VAE's codes on CUDA with both TF32 switches on (PyTorch 1.9's defaults), with both off,
    and on the CPU: the same integers."""
    torch.manual_seed(0)
    vq = build_model("vq_vae", model_config("vq_vae", "paper")).eval()
    x = torch.from_numpy(synthetic_loops(256, seed=5).astype(np.float32))
    cpu = vq.codes(x)
    gpu, xg = vq.to("cuda"), x.to("cuda")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        codes = {}
        for allowed in (True, False):
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
            codes[allowed] = gpu.codes(xg).cpu()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    assert torch.equal(codes[True], codes[False]) and torch.equal(codes[True], cpu)


@pytest.mark.gpu
@CUDA
def test_generation_after_a_deterministic_cuda_run_in_the_same_process(tmp_path):
    """A deterministic CUDA run restores PyTorch's settings when it ends, and the sampler runs even with
    deterministic algorithms still on."""
    from loopkit.models.checkpoints import load_model
    from loopkit.generation.generate import generate
    from loopkit.training.train import train, train_prior

    data = synthetic_dataset(48, seed=3)
    settings = {"epochs": 1, "deterministic": True}
    vq = train("vq_vae", data, "smoke", tmp_path / "vq", device="cuda", progress=False, train_settings=settings)
    assert not torch.are_deterministic_algorithms_enabled()
    prior = train_prior(vq, data, "smoke", tmp_path / "prior", device="cuda", progress=False, train_settings=settings)
    torch.use_deterministic_algorithms(True)
    try:
        gen = generate(load_model(vq, "cuda"), 32, prior=load_model(prior, "cuda"), temperature=1.0, progress=False)
    finally:
        torch.use_deterministic_algorithms(False)
    assert len(gen) == 32
