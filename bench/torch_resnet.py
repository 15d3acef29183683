"""A torch.nn ResNet built from one of our TOML specs, layer for layer.

The spec's options and defaults are MATLAB's, as resnet-spec reads them
(resnet-spec/src/options.rs, plan.rs, padding.rs); this module replicates
them in Python so that PyTorch runs the same architecture: the same
convolutions with the same channels, kernels, strides, padding and biases,
the same batch norms, pooling and classifier. Module names are
torchvision's (`conv1`, `layer2.0.downsample.0`, `fc`), which are also the
names in our layer plan, so `check_against_plan` can compare the two one
convolution at a time.

MATLAB's "same" padding puts an odd extra row or column at the bottom or
right; PyTorch's convolutions pad symmetrically. With `exact=True` (the
default) such layers pad with `F.pad` first (with -inf before a max pool);
with `exact=False` they pad symmetrically instead, which gives the same
output size and work but shifts the window by one pixel.
"""

import math
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULTS = {
    "initial_filter_size": [7, 7],
    "initial_num_filters": 64,
    "initial_stride": [2, 2],
    "initial_pooling": "max",
    "residual_block_type": "batchnorm-before-add",
    "bottleneck_type": "downsample-first-conv",
    "stack_depth": [3, 4, 6, 3],
    "num_filters": [64, 128, 256, 512],
    "normalization": "zerocenter",
    "initialize": True,
    "conv_bias": True,
    "downsample_conv": "first",
    "padding": "same",
    "mean": None,
    "std": None,
    "zero_init_residual": False,
    "bn_epsilon": 1e-5,
    "bn_momentum": 0.1,
}


def read_spec(path):
    """The spec in a TOML file with every default filled in and sizes as
    pairs: input [h, w, c], initial_filter_size and initial_stride [h, w].
    Validation is the Rust side's; this only reads a file it accepts."""
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    unknown = set(raw) - set(DEFAULTS) - {"version", "input", "classes"}
    if unknown:
        raise ValueError(f"{path}: options this script does not know: {sorted(unknown)}")
    spec = dict(DEFAULTS)
    spec.update({k: v for k, v in raw.items() if k != "version"})
    if len(spec["input"]) == 2:
        spec["input"] = list(spec["input"]) + [1]
    for key in ("initial_filter_size", "initial_stride"):
        if isinstance(spec[key], int):
            spec[key] = [spec[key], spec[key]]
    return spec


def pad_1d(mode, size, kernel, stride):
    """(before, after) padding along one axis, as resnet-spec's pad_1d."""
    if mode == "symmetric":
        return kernel // 2, kernel // 2
    out = -(-size // stride)
    needed = max((out - 1) * stride + kernel - size, 0)
    return needed // 2, needed - needed // 2


def out_1d(size, kernel, stride, before, after):
    return (size + before + after - kernel) // stride + 1


def window(spec, size, kernel, stride):
    """Padding (top, bottom, left, right) and output [h, w] of a window."""
    top, bottom = pad_1d(spec["padding"], size[0], kernel[0], stride[0])
    left, right = pad_1d(spec["padding"], size[1], kernel[1], stride[1])
    out = [
        out_1d(size[0], kernel[0], stride[0], top, bottom),
        out_1d(size[1], kernel[1], stride[1], left, right),
    ]
    return (top, bottom, left, right), out


class PaddedConv(nn.Conv2d):
    """A convolution with padding per side. Equal sides go to PyTorch's own
    padding; unequal ones to F.pad, or, when `exact` is false, to the
    larger side on both (the output size stays the same: the extra pixel
    is never reached by a stride-2 window)."""

    def __init__(self, cin, cout, kernel, stride, pad, bias, exact):
        top, bottom, left, right = pad
        padded = (top == bottom and left == right) or not exact
        inner = (max(top, bottom), max(left, right)) if padded else (0, 0)
        super().__init__(cin, cout, kernel, stride=stride, padding=inner, bias=bias)
        self.explicit = None if padded else (left, right, top, bottom)

    def forward(self, x):
        if self.explicit is not None:
            x = F.pad(x, self.explicit)
        return super().forward(x)


class Pool(nn.Module):
    """The stem's 3 x 3 stride-2 pooling with padding per side: padded cells
    never win a max and are left out of an average."""

    def __init__(self, kind, pad, exact):
        super().__init__()
        self.kind = kind
        top, bottom, left, right = pad
        self.symmetric = top == bottom and left == right
        self.explicit = (left, right, top, bottom)
        self.inner = (max(top, bottom), max(left, right))
        self.exact = exact

    def forward(self, x):
        if self.symmetric or not self.exact:
            if self.kind == "max":
                return F.max_pool2d(x, 3, 2, self.inner)
            return F.avg_pool2d(x, 3, 2, self.inner, count_include_pad=False)
        if self.kind == "max":
            return F.max_pool2d(F.pad(x, self.explicit, value=-math.inf), 3, 2)
        sums = F.avg_pool2d(F.pad(x, self.explicit), 3, 2, divisor_override=1)
        ones = F.pad(torch.ones_like(x[:1, :1]), self.explicit)
        return sums / F.avg_pool2d(ones, 3, 2, divisor_override=1)


class Block(nn.Module):
    """A basic or bottleneck block: conv, batch norm, ReLU per branch
    convolution (no ReLU after the last), the addition, a ReLU; with
    "batchnorm-after-add" the last batch norm follows the addition."""

    def __init__(self, spec, size, cin, filters, downsample, exact):
        super().__init__()
        stride = [2, 2] if downsample else [1, 1]
        bottleneck = spec["bottleneck_type"] == "downsample-first-conv"
        cout = 4 * filters if bottleneck else filters
        if bottleneck:
            middle = spec["downsample_conv"] == "middle"
            first, mid = ([1, 1], stride) if middle else (stride, [1, 1])
            layout = [([1, 1], first, filters), ([3, 3], mid, filters), ([1, 1], [1, 1], cout)]
        else:
            layout = [([3, 3], stride, filters), ([3, 3], [1, 1], filters)]

        self.after_add = spec["residual_block_type"] == "batchnorm-after-add"
        self.convs = []
        self.geometry = []
        channels, here = cin, size
        for i, (kernel, s, out) in enumerate(layout):
            pad, out_size = window(spec, here, kernel, s)
            conv = PaddedConv(channels, out, kernel, s, pad, spec["conv_bias"], exact)
            setattr(self, f"conv{i + 1}", conv)
            setattr(self, f"bn{i + 1}", batch_norm(spec, out))
            self.convs.append(i + 1)
            self.geometry.append((f"conv{i + 1}", channels, out, kernel, s, pad, here, out_size))
            channels, here = out, out_size
        self.out_size = here
        self.out_channels = cout

        self.downsample = None
        if downsample or cin != cout:
            pad, out_size = window(spec, size, [1, 1], stride)
            conv = PaddedConv(cin, cout, [1, 1], stride, pad, spec["conv_bias"], exact)
            parts = [conv] if self.after_add else [conv, batch_norm(spec, cout)]
            self.downsample = nn.Sequential(*parts)
            self.geometry.append(("downsample.0", cin, cout, [1, 1], stride, pad, size, out_size))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        last = len(self.convs)
        y = x
        for i in self.convs:
            y = getattr(self, f"conv{i}")(y)
            if i < last:
                y = F.relu(getattr(self, f"bn{i}")(y), inplace=True)
            elif not self.after_add:
                y = getattr(self, f"bn{i}")(y)
        y = y + shortcut
        if self.after_add:
            y = getattr(self, f"bn{last}")(y)
        return F.relu(y, inplace=True)


def batch_norm(spec, channels):
    return nn.BatchNorm2d(channels, eps=spec["bn_epsilon"], momentum=spec["bn_momentum"])


class ResNet(nn.Module):
    """The network a spec describes: input normalization, stem, stacks of
    blocks, global average pooling and the classifier."""

    def __init__(self, spec, exact=True):
        super().__init__()
        h, w, c = spec["input"]
        filters = spec["initial_num_filters"]
        kernel, stride = spec["initial_filter_size"], spec["initial_stride"]
        pad, size = window(spec, [h, w], kernel, stride)
        self.conv1 = PaddedConv(c, filters, kernel, stride, pad, spec["conv_bias"], exact)
        self.bn1 = batch_norm(spec, filters)
        self.geometry = [("conv1", c, filters, kernel, stride, pad, [h, w], size)]
        self.pool = None
        if spec["initial_pooling"] != "none":
            pool_pad, size = window(spec, size, [3, 3], [2, 2])
            self.pool = Pool(spec["initial_pooling"], pool_pad, exact)

        channels = filters
        stacks = zip(spec["stack_depth"], spec["num_filters"])
        for s, (depth, width) in enumerate(stacks):
            blocks = []
            for i in range(depth):
                block = Block(spec, size, channels, width, s > 0 and i == 0, exact)
                for g in block.geometry:
                    self.geometry.append((f"layer{s + 1}.{i}.{g[0]}",) + g[1:])
                size, channels = block.out_size, block.out_channels
                blocks.append(block)
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.stacks = len(spec["stack_depth"])
        self.fc = nn.Linear(channels, spec["classes"])

        mean = spec["mean"] or [0.0] * c
        std = spec["std"] or [1.0] * c
        self.register_buffer("mean", torch.tensor(mean).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, c, 1, 1))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        if self.pool is not None:
            x = self.pool(x)
        for s in range(self.stacks):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.fc(x.mean((2, 3)))


def plan_convs(plan):
    """Our plan's convolutions (from `bench_network --plan`) as tuples like
    `ResNet.geometry`: name, in, out, kernel, stride, pad, input, output."""
    def row(c):
        p = c["pad"]
        pad = (p["top"], p["bottom"], p["left"], p["right"])
        return (c["name"], c["in_channels"], c["out_channels"], list(c["kernel"]),
                list(c["stride"]), pad, list(c["input"]), list(c["output"]), c["bias"])

    rows = [row(plan["stem_conv"])]
    for block in plan["blocks"]:
        rows += [row(c) for c in block["convs"]]
        if block["shortcut"] is not None:
            rows.append(row(block["shortcut"][0]))
    return rows


def check_against_plan(model, plan):
    """Compares every convolution of `model` with our plan (sizes, padding,
    bias) and the output sizes PyTorch actually produces; raises
    ValueError naming the first difference. Returns the convolution count."""
    ours = plan_convs(plan)
    modules = dict(model.named_modules())
    theirs = []
    for name, cin, cout, kernel, stride, pad, size, out in model.geometry:
        theirs.append((name, cin, cout, list(kernel), list(stride), tuple(pad), list(size),
                       list(out), modules[name].bias is not None))
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} convolutions in our plan, {len(theirs)} in PyTorch's")
    for a, b in zip(ours, theirs):
        if a != b:
            raise ValueError(f"convolution differs: ours {a}, PyTorch's {b}")

    seen = {}
    hooks = [modules[g[0]].register_forward_hook(
        lambda m, i, o, name=g[0]: seen.__setitem__(name, list(o.shape[2:])))
        for g in model.geometry]
    h, w, c = plan["input"]
    with torch.inference_mode():
        model.eval()(torch.zeros(1, c, h, w))
    for hook in hooks:
        hook.remove()
    for name, *_, out, _bias in theirs:
        if seen[name] != out:
            raise ValueError(f"{name}: PyTorch outputs {seen[name]}, our plan says {out}")
    return len(ours)
