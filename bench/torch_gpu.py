#!/usr/bin/env python3
"""PyTorch's training throughput for one of our configs on the GPU.

The same architecture as ours (built by torch_resnet.py from the TOML
file) and the same step as resnet-core/examples/gpu_throughput.rs:
forward in training mode, cross-entropy, backward, SGD with momentum 0.9
and weight decay 1e-4; two warm-up steps, then STEPS timed ones. Prints
one JSON line with images/s. Run by scripts/gpu_check.sh.

Usage: python bench/torch_gpu.py CONFIG.toml [BATCH] [STEPS]
"""

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_resnet  # noqa: E402


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    config = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    if not torch.cuda.is_available():
        raise SystemExit("torch sees no CUDA GPU")

    spec = torch_resnet.read_spec(config)
    h, w, c = spec["input"]
    model = torch_resnet.ResNet(spec).cuda().train()
    x = torch.rand(batch, c, h, w, device="cuda")
    y = torch.arange(batch, device="cuda") % spec["classes"]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({"config": config, "batch": batch, "steps": steps,
                      "images_per_s": round(batch * steps / seconds, 1),
                      "last_loss": round(loss.item(), 4), "torch": torch.__version__,
                      "gpu": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    main()
