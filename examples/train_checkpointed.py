"""A PyTorch training job that survives preemption under kaon.

kaon preempts a job by sending SIGTERM to its process group, waits `--grace` seconds, then
kills it; later it starts the job again as a new attempt. Each attempt gets the same
KAON_CHECKPOINT_DIR, so a job that saves its state there on SIGTERM (and every `--every` steps,
in case it is killed outright) loses nothing: the next attempt resumes from the step it stopped
at. The batches are a function of the step number, so a preempted run ends with exactly the
weights an uninterrupted one would have.

    kaon submit --gpus 1 --name train -- python examples/train_checkpointed.py --steps 5000

Runs on the granted GPU when PyTorch sees one (kaon sets CUDA_VISIBLE_DEVICES), else on the CPU.
Outside kaon it keeps its checkpoints in ./checkpoints.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import torch

FEATURES = 64


def batch(step: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of `step`: the same on every attempt, so resuming repeats no data and skips none."""
    g = torch.Generator().manual_seed(step)
    x = torch.randn(256, FEATURES, generator=g)
    y = torch.sin(x[:, :8]).sum(dim=1, keepdim=True)
    return x.to(device), y.to(device)


def save(path: Path, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    """Write-then-rename, so a kill during the write leaves the previous checkpoint whole."""
    tmp = path.with_suffix(".tmp")
    torch.save({"step": step, "model": model.state_dict(), "opt": opt.state_dict()}, tmp)
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--every", type=int, default=500, help="also checkpoint every N steps")
    parser.add_argument("--step-sleep", type=float, default=0.0, help="extra seconds per step (a slow job, for demos)")
    args = parser.parse_args()

    stop = False

    def on_sigterm(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_sigterm)
    path = Path(os.environ.get("KAON_CHECKPOINT_DIR", "checkpoints")) / "train.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = 0
    if path.exists():
        state = torch.load(path, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    print(f"attempt {os.environ.get('KAON_ATTEMPT', '1')} on {name}: from step {step}", flush=True)
    loss = torch.tensor(float("nan"))
    while step < args.steps and not stop:
        x, y = batch(step, device)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % args.every == 0:
            save(path, step, model, opt)
            print(f"checkpoint at step {step}: loss {loss.item():.6f}", flush=True)
        if args.step_sleep:
            time.sleep(args.step_sleep)
    save(path, step, model, opt)
    if stop:
        print(f"stopped at step {step}; checkpoint saved", flush=True)
        return 128 + signal.SIGTERM  # the conventional code: a time limit's SIGTERM is no success
    weights = torch.cat([p.detach().flatten().cpu() for p in model.parameters()])
    print(f"done at step {step}: loss {loss.item():.6f}, weights sum {weights.double().sum().item():.9f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
