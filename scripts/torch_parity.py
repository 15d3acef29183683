"""Expected outputs of torchvision's ResNets for the Rust parity tests.

The Rust tests in resnet-core/tests/interop_parity.rs rebuild the same
weights from the same formula, import them through `resnet_core::interop`
and compare their outputs with the JSON files this script writes. CI has no
PyTorch, so the small JSON files are committed; run this script by hand
where torch is installed, and only when the formula or the cases change:

    python -m venv venv && venv/bin/pip install torch torchvision numpy
    venv/bin/python scripts/torch_parity.py

To check by hand that torchvision accepts a file `resnet export` wrote,
load it strictly and compare it with the formula (meaningful for a file
exported from a network that imported the formula weights):

    venv/bin/python scripts/torch_parity.py --check FILE --arch resnet18

It writes, under resnet-core/tests/fixtures/torch/ (or --out DIR):

- resnet18.json, resnet50.json: digests of the eval-mode logits, the
  train-mode logits, batch norm running statistics after that one
  train-mode pass, and gradients of the loss after it;
- resnet18_keys.json, resnet50_keys.json: every state-dict entry of the
  1000-class model, in order, as [name, shape, dtype].

The weights. Every parameter and buffer of torchvision.models.resnetNN()
(1000 classes) is set from its state-dict name and the row-major index i of
each element, computed in float64 and then rounded to float32. The index is
scrambled first (j below) so that the filters of a convolution are not all
phase shifts of one sinusoid, which would make every convolution rank 2:

    phase = 0.013 * (sum of the UTF-8 byte values of the name)
    j     = (i * 7919) mod 1000003             (exact integer arithmetic)
    s     = sin(0.731 * j + phase)
    running_var            1 + 0.5 * s * s    (stays positive)
    running_mean           0.1 * s
    any bias               0.1 * s
    4-D conv weight        s / sqrt(in * kh * kw)
    2-D fc weight          s / sqrt(in_features)
    1-D batch norm weight  1 + 0.25 * s
    num_batches_tracked    0

The input. A batch of two 3 x 64 x 64 images, element i (row-major over
[2, 3, 64, 64]) being x = 0.5 + 0.5 * s for s the formula's value of the
name "input", rounded to float32 (values in [0, 1]), then normalized per
channel with the ImageNet mean and std (the float32 constants of the
configs/torchvision/ specs) in float64, (x - mean) / std, and rounded to
float32 again. Both runs below feed exactly these values. Labels [1, 7],
loss the mean cross-entropy.

The passes, in order, on one model: eval mode, forward (eval logits); then
train mode, forward (train logits, running statistics move once), loss,
backward (gradients). They run twice, in float32 and in float64 (the same
float32 weights and input, widened), and the file records how far torch's
own float32 results lie from its float64 ones ("float32_vs_float64", the
largest error over max |x| per group). That gap shows which comparisons
float32 can pass at all: ResNet-50's train-mode pass at 64 x 64 normalizes
layer4 over 8 values per channel (2 images of 2 x 2), and the gradients of
its early layers differ by several percent between torch's own float32 and
float64, so the Rust tests check that pass in float64. It is sensitive
enough that rounding 1 / std to float32 inside the normalization moves its
float64 train logits by 4e-5 of their largest value, which is why the
input is defined to the last bit above.

A digest keeps a handful of numbers per tensor, computed in float64 from
the float32 values: shape, the first 8 values, 16 values at indices
0, step, 2 * step, ... (step = ceil(n / 16)), sum, sum of |x|, sum of x^2
and max |x|.
"""

import argparse
import json
import math
import os

import numpy as np
import torch
import torchvision

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
LABELS = [1, 7]
BATCH, SIZE = 2, 64

# Which tensors to digest besides the logits, per network.
CASES = {
    "resnet18": {
        "stats": ["bn1", "layer1.0.bn1", "layer2.0.downsample.1", "layer4.1.bn2"],
        "grads": [
            "conv1.weight",
            "layer1.0.conv1.weight",
            "layer3.0.downsample.0.weight",
            "layer4.1.bn2.weight",
            "layer4.1.bn2.bias",
            "fc.weight",
            "fc.bias",
        ],
    },
    "resnet50": {
        "stats": ["bn1", "layer1.0.downsample.1", "layer3.2.bn2", "layer4.2.bn3"],
        "grads": [
            "conv1.weight",
            "layer1.0.conv2.weight",
            "layer2.0.downsample.0.weight",
            "layer4.2.bn3.weight",
            "layer4.2.bn3.bias",
            "fc.weight",
            "fc.bias",
        ],
    },
}


def wave(name, n):
    """s for the first n indices of the tensor `name`, in float64."""
    phase = 0.013 * sum(name.encode("utf-8"))
    j = (np.arange(n, dtype=np.int64) * 7919) % 1000003
    return np.sin(0.731 * j.astype(np.float64) + phase)


def formula(name, shape):
    """The value of every element of the tensor `name`, as float32."""
    s = wave(name, int(np.prod(shape)) if len(shape) else 1)
    if name.endswith("running_var"):
        v = 1.0 + 0.5 * s * s
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = 0.1 * s
    elif len(shape) == 4:
        v = s / math.sqrt(shape[1] * shape[2] * shape[3])
    elif len(shape) == 2:
        v = s / math.sqrt(shape[1])
    elif len(shape) == 1:
        v = 1.0 + 0.25 * s
    else:
        raise ValueError(f"no formula for {name} of shape {shape}")
    return v.astype(np.float32).reshape(shape)


def set_weights(model):
    """Sets every parameter and buffer of `model` from the formula."""
    state = model.state_dict()
    for name, tensor in state.items():
        if name.endswith("num_batches_tracked"):
            tensor.zero_()
        else:
            tensor.copy_(torch.from_numpy(formula(name, tuple(tensor.shape))))


def input_batch(dtype):
    """The normalized input batch [2, 3, 64, 64] in `dtype`."""
    n = BATCH * 3 * SIZE * SIZE
    x = (0.5 + 0.5 * wave("input", n)).astype(np.float32).reshape(BATCH, 3, SIZE, SIZE)
    mean = np.array(MEAN, dtype=np.float32).astype(np.float64).reshape(1, 3, 1, 1)
    std = np.array(STD, dtype=np.float32).astype(np.float64).reshape(1, 3, 1, 1)
    normalized = ((x.astype(np.float64) - mean) / std).astype(np.float32)
    return torch.from_numpy(normalized).to(dtype)


def digest(tensor):
    """A handful of numbers that pin a tensor down (see the module doc)."""
    flat = tensor.detach().double().flatten().numpy()
    step = max(1, math.ceil(flat.size / 16))
    return {
        "shape": list(tensor.shape),
        "first": flat[:8].tolist(),
        "step": step,
        "strided": flat[::step].tolist(),
        "sum": float(flat.sum()),
        "sum_abs": float(np.abs(flat).sum()),
        "sum_sq": float((flat * flat).sum()),
        "max_abs": float(np.abs(flat).max()),
    }


def passes(arch, dtype):
    """Eval pass, then one train pass with backward, in `dtype`: the
    tensors the tests compare, by name."""
    model = getattr(torchvision.models, arch)()
    set_weights(model)
    model = model.to(dtype)
    x = input_batch(dtype)

    model.eval()
    with torch.no_grad():
        eval_logits = model(x)

    model.train()
    train_logits = model(x)
    loss = torch.nn.functional.cross_entropy(train_logits, torch.tensor(LABELS))
    loss.backward()

    case = CASES[arch]
    state = model.state_dict()
    params = dict(model.named_parameters())
    stats = {}
    for bn in case["stats"]:
        for kind in ("running_mean", "running_var"):
            stats[f"{bn}.{kind}"] = state[f"{bn}.{kind}"].clone()
    grads = {name: params[name].grad.clone() for name in case["grads"]}
    return {
        "loss": loss.detach(),
        "eval_logits": eval_logits,
        "train_logits": train_logits.detach(),
        "running_stats": stats,
        "grads": grads,
    }


def digests(result):
    """The digests of everything `passes` returned."""
    return {
        key: {n: digest(t) for n, t in value.items()} if isinstance(value, dict)
        else (value.item() if key == "loss" else digest(value))
        for key, value in result.items()
    }


def worst_gap(low, high):
    """Largest |low - high| over max |high|, across the tensors of a group:
    how far torch's float32 lies from its own float64 (the conditioning)."""
    if isinstance(high, dict):
        return max(worst_gap(low[n], high[n]) for n in high)
    low, high = low.double(), high.double()
    return ((low - high).abs().max() / high.abs().max()).item()


def run(arch):
    """Both precisions of one network, and its state-dict keys."""
    model = getattr(torchvision.models, arch)()
    keys = [
        [name, list(t.shape), str(t.dtype).replace("torch.", "")]
        for name, t in model.state_dict().items()
    ]
    single = passes(arch, torch.float32)
    double = passes(arch, torch.float64)
    gaps = {k: worst_gap(single[k], double[k]) for k in single if k != "loss"}
    result = {
        "arch": arch,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "input": [BATCH, 3, SIZE, SIZE],
        "labels": LABELS,
        "float32": digests(single),
        "float64": digests(double),
        "float32_vs_float64": gaps,
    }
    return result, keys


def check(path, arch):
    """Loads `path` into torchvision's `arch` with strict=True and reports
    the largest difference from the formula weights."""
    from safetensors.torch import load_file

    state = load_file(path)
    model = getattr(torchvision.models, arch)()
    model.load_state_dict(state, strict=True)
    worst = 0.0
    for name, tensor in model.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            expected = torch.from_numpy(formula(name, tuple(tensor.shape)))
            worst = max(worst, (tensor - expected).abs().max().item())
    counters = [t.dtype for n, t in state.items() if n.endswith("num_batches_tracked")]
    print(f"{path}: {len(state)} entries loaded into torchvision {arch} with strict=True;")
    print(f"  {len(counters)} counters of dtype {set(counters)}; largest |weight - formula| {worst}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "resnet-core", "tests", "fixtures", "torch")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=default, help="where the JSON files go")
    parser.add_argument("--check", metavar="FILE", help="load an exported file strictly")
    parser.add_argument("--arch", default="resnet18", help="the architecture --check loads")
    args = parser.parse_args()
    if args.check:
        check(args.check, args.arch)
        return
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))

    for arch in CASES:
        result, keys = run(arch)
        for name, data in [(arch, result), (f"{arch}_keys", keys)]:
            path = os.path.join(args.out, f"{name}.json")
            with open(path, "w") as f:
                json.dump(data, f, indent=1)
                f.write("\n")
            print(f"wrote {os.path.normpath(path)}")
        gaps = ", ".join(f"{k} {v:.1e}" for k, v in result["float32_vs_float64"].items())
        print(f"{arch}: torch float32 against float64: {gaps}")


if __name__ == "__main__":
    main()
