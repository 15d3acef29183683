#!/usr/bin/env python3
"""Compare our CPU convolution with PyTorch's on the ResNet-50 layer shapes.

Runs the Rust example `conv_timing` (resnet-core/examples/conv_timing.rs),
which prints one JSON line per shape, then times the same convolutions in
PyTorch on two threads, and prints a table:

    shape | ours fwd ms | torch fwd ms | ratio | ours bwd ms | torch bwd ms | ratio

A ratio above 1 means ours is slower. Backward is the input and weight
gradients together in both (no bias, as in ResNet), with the forward pass
outside the timed part. Wall-clock figures are the best of --reps runs
after one warm-up run: on a shared machine the slower runs mostly measure
the neighbours.

With --cpu the table holds processor milliseconds per run instead (all
threads, averaged over the runs), which a busy machine disturbs much less.
PyTorch then runs with OMP_WAIT_POLICY=PASSIVE so that its idle threads do
not spin and count as work.

Usage: python bench/conv_torch.py [--reps 5] [--batch 8] [--only TEXT]
                                  [--cpu] [--repo PATH] [--ours-json FILE]
(--only keeps the shapes whose name contains TEXT.)
"""

import argparse
import json
import os
import subprocess
import sys
import time

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


def measure(setup, run, reps):
    """Best wall-clock ms and mean processor ms of `run` over `reps` runs
    after one warm-up; `setup` runs untimed before each."""
    walls, cpus = [], []
    for rep in range(reps + 1):
        state = setup()
        wall, cpu = time.perf_counter(), time.process_time()
        run(state)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if rep > 0:
            walls.append(wall * 1e3)
            cpus.append(cpu * 1e3)
    return min(walls), sum(cpus) / len(cpus)


def torch_times(reps, batch, only):
    """PyTorch's (forward, backward) timings by shape name, each a pair of
    best wall-clock ms and mean processor ms."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    times = {}
    for name, (c, h, w), out, k, stride, pad in LAYERS:
        if only and only not in name:
            continue
        x = torch.randn(batch, c, h, w)
        weight = torch.randn(out, c, k, k)
        xg = x.clone().requires_grad_()
        wg = weight.clone().requires_grad_()
        grad_out = torch.randn_like(F.conv2d(x, weight, stride=stride, padding=pad))

        def forward(_):
            with torch.no_grad():
                F.conv2d(x, weight, stride=stride, padding=pad)

        def forward_graph():
            return F.conv2d(xg, wg, stride=stride, padding=pad)

        def backward(y):
            torch.autograd.grad(y, (xg, wg), grad_out)

        times[name] = (
            measure(lambda: None, forward, reps),
            measure(forward_graph, backward, reps),
        )
    return times


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--only", help="keep shapes whose name contains this")
    parser.add_argument("--cpu", action="store_true", help="compare processor time")
    parser.add_argument("--repo", default=os.path.dirname(here))
    parser.add_argument("--ours-json", help="read our timings from this file")
    args = parser.parse_args()
    if args.cpu:
        # Must be set before PyTorch starts its OpenMP threads.
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

    mine = ours(args.repo, args.reps, args.batch, args.only, args.ours_json)
    theirs = torch_times(args.reps, args.batch, args.only)

    import torch

    what = "mean processor ms (all threads)" if args.cpu else "best wall-clock ms"
    print(f"batch {args.batch}, torch {torch.__version__} on "
          f"{torch.get_num_threads()} threads, {what} of {args.reps} runs")
    unit = "cpu ms" if args.cpu else "ms"
    header = ("shape", f"ours fwd {unit}", f"torch fwd {unit}", "ratio",
              f"ours bwd {unit}", f"torch bwd {unit}", "ratio")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    pick = 1 if args.cpu else 0
    suffix = "_cpu_ms" if args.cpu else "_ms"
    for name, *_ in LAYERS:
        if name not in theirs:
            continue
        tf, tb = theirs[name][0][pick], theirs[name][1][pick]
        row = mine.get(name)
        of = row.get("fwd" + suffix) if row else None
        ob = row.get("bwd" + suffix) if row else None
        if of is None or ob is None:
            print(f"| {name} | - | {tf:.2f} | - | - | {tb:.2f} | - |")
            continue
        print(f"| {name} | {of:.2f} | {tf:.2f} | {of / tf:.2f} "
              f"| {ob:.2f} | {tb:.2f} | {ob / tb:.2f} |")


if __name__ == "__main__":
    main()
