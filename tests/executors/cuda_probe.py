"""Run as a job: print how many CUDA devices this process sees and each one's UUID, as NVML
writes it ("GPU-8-4-4-4-12" hex). Uses the driver API through ctypes, so it needs no framework.
With `--matmul` it also multiplies two matrices on each device with PyTorch, where installed."""

from __future__ import annotations

import ctypes
import sys

CUDA_ERROR_NO_DEVICE = 100


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def main() -> int:
    cuda = ctypes.CDLL("libcuda.so.1")
    rc = cuda.cuInit(0)
    if rc == CUDA_ERROR_NO_DEVICE:
        print("count 0")
        return 0
    if rc != 0:
        print(f"cuInit failed with {rc}")
        return 1
    count = ctypes.c_int()
    cuda.cuDeviceGetCount(ctypes.byref(count))
    print("count", count.value)
    for i in range(count.value):
        device = ctypes.c_int()
        cuda.cuDeviceGet(ctypes.byref(device), i)
        raw = (ctypes.c_ubyte * 16)()
        cuda.cuDeviceGetUuid(raw, device)
        print("uuid", _uuid(bytes(raw)))
    if "--matmul" in sys.argv[1:]:
        import torch

        for i in range(torch.cuda.device_count()):
            a = torch.ones(1024, 1024, device=f"cuda:{i}")
            print("matmul", torch.cuda.get_device_name(i), int((a @ a)[0, 0].item()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
