#!/usr/bin/env python3
"""Benchmarks our networks against PyTorch on the same machine.

Rows (see README, "Benchmarks"):
  1. ResNet-50 (configs/resnet50.toml) inference, batch 1 and 8: images/s
  2. ResNet-18 (configs/resnet18.toml) training step, batch 8: images/s
  3. the MNIST config, training step at batch 64, inference at batch 256
  4. peak resident memory of the processes that ran rows 2 and 3
  5. release rebuild time of bench/build_time (ResNet-50 and ResNet-152
     through `resnet!`), dependencies prebuilt

For each speed row two worker processes start: ours
(`resnet-core/examples/bench_network --serve`) and PyTorch's (this script
with `--worker`), each running only that row, two threads each. After a
warm-up the driver asks them in turn for a few iterations, swapping who
goes first every round, so both see the same neighbours on a shared
machine. One worker waits on its stdin while the other runs. The figures
are medians over all timed iterations; a ratio is ours / PyTorch's
(images/s, so above 1 means we are faster; peak memory, so below 1 means
we use less). The peak resident memory of a row is that of its worker
process (VmHWM in /proc/PID/status): each ran only its row.

The PyTorch model is built from the same TOML file by bench/torch_resnet.py
and checked convolution by convolution against our layer plan before
anything is timed. A training iteration is, on both sides: forward in
training mode, cross-entropy, backward, SGD (momentum 0.9, weight decay
1e-4) update; inference is a forward pass in inference mode.

Usage: bench/compare.sh [options]  (it builds our side and finds torch), or
       python bench/compare.py --ours PATH/bench_network [--rows ...]
       [--rounds N] [--out FILE] [--symmetric-padding] [--profile ROW]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THREADS = 2

# name, title, config, mode, batch, iterations per round (per side).
ROWS = [
    ("resnet50-infer-b1", "ResNet-50 inference, batch 1", "configs/resnet50.toml", "infer", 1, 2),
    ("resnet50-infer-b8", "ResNet-50 inference, batch 8", "configs/resnet50.toml", "infer", 8, 1),
    ("resnet18-train-b8", "ResNet-18 training step, batch 8", "configs/resnet18.toml", "train",
     8, 1),
    ("mnist-train-b64", "MNIST config training step, batch 64", "configs/mnist.toml", "train",
     64, 3),
    ("mnist-infer-b256", "MNIST config inference, batch 256", "configs/mnist.toml", "infer",
     256, 3),
]
MEMORY_ROWS = {"resnet18-train-b8", "mnist-train-b64", "mnist-infer-b256"}
GOALS = {"infer": 0.8, "train": 0.7, "memory": 1.5}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# --- The PyTorch worker -------------------------------------------------------


class TorchBench:
    """One row on PyTorch: the model, its input, its optimizer."""

    def __init__(self, config, mode, batch, exact):
        import torch
        import torch_resnet

        torch.set_num_threads(THREADS)
        torch.manual_seed(0)
        spec = torch_resnet.read_spec(config)
        h, w, c = spec["input"]
        self.torch = torch
        self.mode = mode
        self.model = torch_resnet.ResNet(spec, exact=exact)
        # As on our side: zero-centered with a mean of 0.5 per channel.
        self.model.mean.fill_(0.5)
        self.x = torch.rand(batch, c, h, w, generator=torch.Generator().manual_seed(7))
        self.y = torch.arange(batch) % spec["classes"]
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        self.model.train(mode == "train")

    def iterate(self):
        """One iteration: wall and processor seconds, and the phases of a
        training step (forward, backward, update)."""
        torch = self.torch
        start, cpu = time.perf_counter(), time.process_time()
        phases = None
        if self.mode == "infer":
            with torch.inference_mode():
                self.model(self.x).sum().item()
        else:
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(self.x)
            forward = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(logits, self.y)
            if not torch.isfinite(loss):
                raise RuntimeError(f"the loss became {loss.item()}")
            loss.backward()
            backward = time.perf_counter()
            self.optimizer.step()
            end = time.perf_counter()
            phases = (forward - start, backward - forward, end - backward)
        return time.perf_counter() - start, time.process_time() - cpu, phases

    def run(self, n):
        timings = [self.iterate() for _ in range(n)]
        out = {"times_s": [t[0] for t in timings], "cpu_s": [t[1] for t in timings]}
        if self.mode == "train":
            for i, key in enumerate(("forward_s", "backward_s", "update_s")):
                out[key] = [t[2][i] for t in timings]
        return out


def worker(args):
    """Serves iterations on stdin, as bench_network --serve does."""
    start = time.perf_counter()
    bench = TorchBench(args.config, args.mode, args.batch, not args.symmetric_padding)
    build_s = time.perf_counter() - start
    warmup = bench.run(args.warmup)
    header = {"config": args.config, "mode": args.mode, "batch": args.batch,
              "threads": bench.torch.get_num_threads(), "build_s": build_s,
              "warmup_s": warmup["times_s"], "torch": bench.torch.__version__}
    print(json.dumps({"ready": header}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if line == "quit":
            break
        if line:
            print(json.dumps(bench.run(int(line))), flush=True)


# --- The driver ---------------------------------------------------------------


class Worker:
    """A benchmark process that answers 'N' with N timed iterations."""

    def __init__(self, side, command, env):
        self.side = side
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=REPO)
        self.ready = self.read()["ready"]

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"the {self.side} worker ended (exit status {code}) "
                               "without an answer; its error is above")
        return json.loads(line)

    def run(self, n):
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        return self.read()

    def finish(self):
        """Ends the worker; returns its peak resident memory in MiB.

        The peak is VmHWM of /proc/PID/status, read while the worker waits
        for its next order. getrusage's ru_maxrss of a child would not do:
        Linux carries the peak of the forked driver (which has imported
        torch) across exec into the child's figure."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(l for l in status.splitlines() if l.startswith("VmHWM:"))
        peak_kib = int(line.split()[1])
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        code = self.proc.wait()
        if code != 0:
            raise RuntimeError(f"the {self.side} worker failed: exit status {code}")
        return peak_kib / 1024


def worker_env(extra=None):
    env = dict(os.environ)
    env.update({"RAYON_NUM_THREADS": str(THREADS), "OMP_NUM_THREADS": str(THREADS),
                "MKL_NUM_THREADS": str(THREADS)})
    env.update(extra or {})
    return env


def median(values):
    return statistics.median(values) if values else None


def bench_row(args, row):
    """Alternates ours and PyTorch's iterations of one row."""
    name, title, config, mode, batch, per_round = row
    # PyTorch's first few iterations are slow (oneDNN sets up its kernels);
    # both sides get the same warm-up.
    warmup = max(2, per_round)
    common = ["--config", config, "--mode", mode, "--batch", str(batch),
              "--warmup", str(warmup)]
    log(f"== {title}: starting both workers")
    load_before = os.getloadavg()[0]
    ours = Worker("ours", [args.ours] + common + ["--serve"], worker_env())
    torch_cmd = [sys.executable, str(Path(__file__).resolve()), "--worker"] + common
    if args.symmetric_padding:
        torch_cmd.append("--symmetric-padding")
    extra = {"PYTHONPATH": str(Path(__file__).resolve().parent)}
    if not args.omp_active:
        extra["OMP_WAIT_POLICY"] = "PASSIVE"
    env = worker_env(extra)
    theirs = Worker("torch", torch_cmd, env)

    results = {"ours": {}, "torch": {}}
    for r in range(args.rounds):
        pair = [("ours", ours), ("torch", theirs)]
        for side, w in pair if r % 2 == 0 else reversed(pair):
            answer = w.run(per_round)
            for key, values in answer.items():
                results[side].setdefault(key, []).extend(values)
        log(f"   round {r + 1}/{args.rounds}: ours {results['ours']['times_s'][-1]:.3f} s, "
            f"torch {results['torch']['times_s'][-1]:.3f} s per iteration")

    out = {"name": name, "title": title, "config": config, "mode": mode, "batch": batch,
           "load_before": load_before, "load_after": os.getloadavg()[0]}
    for side, w in (("ours", ours), ("torch", theirs)):
        timings = results[side]
        seconds = median(timings["times_s"])
        out[side] = {
            "images_per_s": batch / seconds,
            "median_s": seconds,
            "median_cpu_s": median([c for c in timings["cpu_s"] if c is not None]),
            "times_s": timings["times_s"],
            "warmup_s": w.ready["warmup_s"],
            "peak_rss_mib": w.finish(),
        }
        for phase in ("forward_s", "backward_s", "update_s"):
            if phase in timings:
                out[side]["median_" + phase] = median(timings[phase])
    out["torch_version"] = theirs.ready.get("torch")
    out["speed_ratio"] = out["ours"]["images_per_s"] / out["torch"]["images_per_s"]
    out["memory_ratio"] = out["ours"]["peak_rss_mib"] / out["torch"]["peak_rss_mib"]
    out["goal"] = GOALS[mode]
    log(f"   ours {out['ours']['images_per_s']:.1f} images/s, torch "
        f"{out['torch']['images_per_s']:.1f} images/s, ratio {out['speed_ratio']:.2f}; "
        f"peak memory {out['ours']['peak_rss_mib']:.0f} / {out['torch']['peak_rss_mib']:.0f} MiB")
    return out


def check_architectures(args):
    """Builds every config's PyTorch model and compares it with our plan."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch
    import torch_resnet

    torch.set_num_threads(THREADS)
    checked = {}
    for config in sorted({row[2] for row in ROWS if row[0] in args.rows}):
        plan = json.loads(subprocess.run([args.ours, "--config", config, "--plan"], cwd=REPO,
                                         check=True, capture_output=True, text=True).stdout)
        model = torch_resnet.ResNet(torch_resnet.read_spec(REPO / config),
                                    exact=not args.symmetric_padding)
        convs = torch_resnet.check_against_plan(model, plan)
        params = sum(p.numel() for p in model.parameters())
        log(f"architecture check {config}: {convs} convolutions match our plan; "
            f"{params:,} learnable values in PyTorch's model")
        checked[config] = {"convolutions": convs, "learnables": params}
    return checked, torch.__version__


def build_time(args):
    """Release rebuild time of bench/build_time after touching its source,
    with the two macro types and without them (a baseline)."""
    crate = REPO / "bench" / "build_time"
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(REPO / "target"))
    out = {}
    for label, flags in (("with_types", []), ("baseline", ["--no-default-features"])):
        command = ["cargo", "build", "--release", "--quiet"] + flags
        log(f"== build time ({label}): building dependencies first, untimed")
        subprocess.run(command, cwd=crate, env=env, check=True)
        times = []
        for _ in range(args.build_repeats):
            (crate / "src" / "main.rs").touch()
            start = time.perf_counter()
            subprocess.run(command, cwd=crate, env=env, check=True)
            times.append(time.perf_counter() - start)
        out[label] = {"median_s": median(times), "times_s": times}
        log(f"   {label}: {median(times):.1f} s (runs: {', '.join(f'{t:.1f}' for t in times)})")
    return out


def verdict(ratio, goal, higher_is_better=True):
    ok = ratio >= goal if higher_is_better else ratio <= goal
    return "meets" if ok else "misses"


def table(report):
    """The results as a Markdown table."""
    lines = [
        "| row | ours | PyTorch | ours / PyTorch | goal |",
        "|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['title']} | {r['ours']['images_per_s']:.1f} images/s | "
            f"{r['torch']['images_per_s']:.1f} images/s | {r['speed_ratio']:.2f} | "
            f">= {r['goal']} ({verdict(r['speed_ratio'], r['goal'])}) |")
    for r in report["rows"]:
        if r["name"] in MEMORY_ROWS:
            lines.append(
                f"| peak memory, {r['title']} | "
                f"{r['ours']['peak_rss_mib']:.0f} MiB | {r['torch']['peak_rss_mib']:.0f} MiB | "
                f"{r['memory_ratio']:.2f} | <= {GOALS['memory']} "
                f"({verdict(r['memory_ratio'], GOALS['memory'], False)}) |")
    build = report.get("build_time")
    if build:
        lines.append(
            f"| release rebuild, ResNet-50 + ResNet-152 via `resnet!` | "
            f"{build['with_types']['median_s']:.1f} s (same crate without them: "
            f"{build['baseline']['median_s']:.1f} s) | n/a | n/a | |")
    return "\n".join(lines)


def profile(args):
    """Our breakdown by layer kind for one row, beside PyTorch's profiler
    totals by operator for the same row."""
    row = next((r for r in ROWS if r[0] == args.profile), None)
    if row is None:
        raise SystemExit(f"--profile takes one of {[r[0] for r in ROWS]}, got {args.profile!r}")
    _, title, config, mode, batch, _ = row
    command = [args.ours, "--config", config, "--mode", mode, "--batch", str(batch),
               "--warmup", "2", "--iters", str(args.rounds), "--profile"]
    ours = json.loads(subprocess.run(command, cwd=REPO, env=worker_env(), check=True,
                                     capture_output=True, text=True).stdout)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.update(worker_env({} if args.omp_active else {"OMP_WAIT_POLICY": "PASSIVE"}))
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    bench = TorchBench(str(REPO / config), mode, batch, not args.symmetric_padding)
    bench.run(2)
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        bench.run(args.rounds)
    by_op = {e.key: e.cpu_time_total / 1e3 / args.rounds for e in prof.key_averages()}
    top_level = [
        "aten::conv2d", "aten::convolution_backward", "aten::batch_norm",
        "aten::native_batch_norm_backward", "aten::relu_", "aten::threshold_backward",
        "aten::add", "aten::max_pool2d", "aten::max_pool2d_with_indices_backward",
        "aten::mean", "aten::linear", "aten::cross_entropy_loss", "aten::sub", "aten::div",
        "Optimizer.step#SGD.step",
    ]
    theirs = {op: round(by_op[op], 2) for op in top_level if op in by_op}
    print(json.dumps({"row": title, "ours": ours, "torch_ms_per_iteration": theirs}, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ours", help="path of the bench_network binary")
    parser.add_argument("--rows", default=",".join([r[0] for r in ROWS] + ["build"]),
                        help="comma-separated rows to run (default: all, 'build' included)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternation rounds per row (default 4)")
    parser.add_argument("--build-repeats", type=int, default=3)
    parser.add_argument("--out", default="/tmp/resnet-bench.json", help="JSON results file")
    parser.add_argument("--symmetric-padding", action="store_true",
                        help="PyTorch pads 'same' layers symmetrically instead of with F.pad")
    parser.add_argument("--omp-active", action="store_true",
                        help="leave OpenMP's wait policy at its default (spinning) instead "
                             "of PASSIVE; spinning threads starve each other on a busy machine")
    parser.add_argument("--profile", metavar="ROW",
                        help="print a breakdown of one row by layer kind instead")
    # The worker side (internal).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        return worker(args)
    if not args.ours or not Path(args.ours).is_file():
        raise SystemExit(f"--ours must name the built bench_network binary, got {args.ours!r}; "
                         "bench/compare.sh builds it")
    if args.profile:
        return profile(args)

    args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    known = [r[0] for r in ROWS] + ["build"]
    unknown = [r for r in args.rows if r not in known]
    if unknown:
        raise SystemExit(f"--rows: unknown rows {unknown}; known: {known}")

    start = time.perf_counter()
    architectures, torch_version = check_architectures(args)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs",
        "threads": THREADS,
        "torch_version": torch_version,
        "padding": "symmetric" if args.symmetric_padding else "exact (F.pad)",
        "architectures": architectures,
        "rows": [bench_row(args, row) for row in ROWS if row[0] in args.rows],
    }
    if "build" in args.rows:
        report["build_time"] = build_time(args)
    report["seconds"] = time.perf_counter() - start

    print(table(report))
    loads = ", ".join(f"{r['load_before']:.1f}" for r in report["rows"])
    print(f"\nPyTorch {torch_version}, {THREADS} threads each, "
          f"{report['seconds']:.0f} s in all; load average {loads} at the rows' start.")
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"results written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
