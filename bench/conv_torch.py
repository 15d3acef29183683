#!/usr/bin/env python3
"""Compare our CPU convolution with PyTorch's on the ResNet-50 layer shapes.

Runs the Rust example `conv_timing` (resnet-core/examples/conv_timing.rs),
which prints one JSON line per shape, then times the same convolutions in
PyTorch on two threads, and prints a table:

    shape | ours fwd ms | torch fwd ms | ratio | ours bwd ms | torch bwd ms | ratio

A ratio above 1 means ours is slower. Backward is the input and weight
gradients together in both (no bias, as in ResNet). Each figure is the
best of --reps runs after one warm-up run: on a shared machine the slower
runs mostly measure the neighbours.

Usage: python bench/conv_torch.py [--reps 5] [--batch 8] [--only TEXT]
                                  [--repo PATH] [--ours-json FILE]
(--only keeps the shapes whose name contains TEXT.)
"""

import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

# name, input (c, h, w), output channels, kernel, stride, padding; the names
# match those conv_timing prints.
LAYERS = [
    ("7x7/2 224x224x3->64", (3, 224, 224), 64, 7, 2, 3),
    ("3x3 56x56x64", (64, 56, 56), 64, 3, 1, 1),
    ("3x3 28x28x128", (128, 28, 28), 128, 3, 1, 1),
    ("3x3 14x14x256", (256, 14, 14), 256, 3, 1, 1),
    ("3x3 7x7x512", (512, 7, 7), 512, 3, 1, 1),
    ("1x1 56x56 64->256", (64, 56, 56), 256, 1, 1, 0),
    ("1x1 28x28 128->512", (128, 28, 28), 512, 1, 1, 0),
    ("1x1 14x14 256->1024", (256, 14, 14), 1024, 1, 1, 0),
    ("1x1 7x7 512->2048", (512, 7, 7), 2048, 1, 1, 0),
]


def ours(repo, reps, batch, only, json_file):
    """Our timings by shape name, from conv_timing or a saved JSON file."""
    if json_file:
        with open(json_file) as f:
            lines = f.read().splitlines()
    else:
        cmd = [
            "cargo", "run", "--release", "--quiet", "-p", "resnet-core",
            "--example", "conv_timing", "--", str(reps), str(batch),
        ] + ([only] if only else [])
        print("running:", " ".join(cmd), file=sys.stderr)
        out = subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True)
        lines = out.stdout.splitlines()
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    return {row["shape"]: row for row in rows}


def best_ms(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return min(times)


def torch_times(reps, batch, only):
    """PyTorch's forward and backward milliseconds by shape name."""
    torch.set_num_threads(2)
    times = {}
    for name, (c, h, w), out, k, stride, pad in LAYERS:
        if only and only not in name:
            continue
        x = torch.randn(batch, c, h, w)
        weight = torch.randn(out, c, k, k)

        def forward():
            with torch.no_grad():
                F.conv2d(x, weight, stride=stride, padding=pad)

        xg = x.clone().requires_grad_()
        wg = weight.clone().requires_grad_()
        grad_out = torch.randn_like(F.conv2d(x, weight, stride=stride, padding=pad))
        state = {}

        def backward():
            # The forward runs outside the timed part, as in conv_timing.
            torch.autograd.grad(state["y"], (xg, wg), grad_out)

        def timed_backward():
            times_ms = []
            for rep in range(reps + 1):
                state["y"] = F.conv2d(xg, wg, stride=stride, padding=pad)
                start = time.perf_counter()
                backward()
                if rep > 0:
                    times_ms.append((time.perf_counter() - start) * 1e3)
            return min(times_ms)

        times[name] = (best_ms(forward, reps), timed_backward())
    return times


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--only", help="keep shapes whose name contains this")
    parser.add_argument("--repo", default=os.path.dirname(here))
    parser.add_argument("--ours-json", help="read our timings from this file")
    args = parser.parse_args()

    mine = ours(args.repo, args.reps, args.batch, args.only, args.ours_json)
    theirs = torch_times(args.reps, args.batch, args.only)

    header = ("shape", "ours fwd ms", "torch fwd ms", "ratio",
              "ours bwd ms", "torch bwd ms", "ratio")
    print(f"batch {args.batch}, torch {torch.__version__} on "
          f"{torch.get_num_threads()} threads, best of {args.reps}")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, *_ in LAYERS:
        if name not in theirs:
            continue
        tf, tb = theirs[name]
        row = mine.get(name)
        if row is None:
            print(f"| {name} | - | {tf:.2f} | - | - | {tb:.2f} | - |")
            continue
        of, ob = row["fwd_ms"], row["bwd_ms"]
        print(f"| {name} | {of:.2f} | {tf:.2f} | {of / tf:.2f} "
              f"| {ob:.2f} | {tb:.2f} | {ob / tb:.2f} |")


if __name__ == "__main__":
    main()
