"""The exponential moving average of G's weights: what is exported and served (G_ema)."""
from __future__ import annotations

import torch
import torch.nn as nn


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    # one fused update over all parameters (a GPU launches a few kernels, not one per tensor)
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - beta)


def ema_beta_at(step: int, beta: float) -> float:
    # Ramp up (as in Karras et al.): early on, the EMA tracks G closely instead of
    # averaging in the random initialisation.
    return min(beta, (1.0 + step) / (10.0 + step))
