"""The one-line description of this machine that every timing figure and training card carries."""

from __future__ import annotations

import os
import platform


def machine_description() -> str:
    """E.g. ``x86_64 Linux, 2 CPUs, no GPU`` or ``x86_64 Linux, 16 CPUs, NVIDIA H100 80GB HBM3``.

    The GPU is named whenever torch sees one, whatever device a figure was measured on: the line
    describes the machine, and a figure's own ``device`` field says where it ran.
    """
    import torch  # here, not at the top: the dataset writers import sims without needing torch

    accelerator = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, {accelerator}"
