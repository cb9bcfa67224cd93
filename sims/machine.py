"""The one-line description of this machine that every timing figure and training card carries."""

from __future__ import annotations

import os
import platform

import torch


def machine_description(device: str = "cpu") -> str:
    """E.g. ``x86_64 Linux, 2 CPUs, no GPU`` or ``x86_64 Linux, 16 CPUs, NVIDIA H100 80GB HBM3``.

    :param device: the torch device the figure was measured on; ``cuda`` names the GPU.
    """
    processor = platform.processor() or platform.system()
    accelerator = torch.cuda.get_device_name() if device.startswith("cuda") else "no GPU"
    return f"{platform.machine()} {processor}, {os.cpu_count()} CPUs, {accelerator}"
