"""The generator's derivative as a graph of its own, for a browser that computes no gradients.

`GeneratorJacobian` maps (z, class_weights) to the generator's float image and its exact
Jacobian with respect to z, computed by forward-mode differentiation written out as ordinary
ops (no autograd inside): every layer of gan.model.networks.Generator carries 64 tangent
vectors beside its value -- the linear layer's tangent is its weight's z columns, BatchNorm in
eval mode scales it per channel, ReLU masks it, a transposed convolution (linear, bias-free on
tangents) maps it with the same weights, stride and padding, and tanh multiplies it by
1 - tanh^2. Exported to ONNX (gan.space.onnx_export.export_jacobian), it lets the static page
take the same Levenberg-Marquardt steps as gan.latent.encoder_search.polish_with_jacobian.

Why not Adam on the gradient: from the encoder's latent, Adam on pixel MSE + the norm prior
needs far more steps (MNIST test digits 0-299: 40 steps mean RMS 0.067, 80 steps 0.058) than
Levenberg-Marquardt steps (3 steps: 0.050, 4 steps: 0.047), and each Adam step costs a backward pass too.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model.networks import Generator


def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as y = scale * x + shift, per channel (shape (C, 1, 1))."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    return scale.view(-1, 1, 1), shift.view(-1, 1, 1)


class GeneratorJacobian(nn.Module):
    """(z (N, z_dim), class_weights (N, classes)) -> (images (N, H*W) float in [-1, 1],
    jacobian (N, z_dim, H*W): d image / d z, row k the image's change per unit of z[k]).

    The generator in eval mode (BatchNorm's running statistics), as the page draws it."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator.eval()

    def forward(self, z: torch.Tensor, class_weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.generator
        n, d = z.shape
        width = 2 * g.config.g_width
        # value
        h = torch.cat([z, F.linear(class_weights, g.embed.weight)], dim=1)
        pre0 = F.linear(h, g.fc.weight).view(n, width, 7, 7)
        scale0, shift0 = _bn_scale_shift(g.bn0)
        y0 = pre0 * scale0 + shift0
        mask0 = (y0 > 0).to(z.dtype)
        h1 = y0 * mask0
        pre1 = F.conv_transpose2d(h1, g.up1.weight, None, stride=2, padding=1)
        scale1, shift1 = _bn_scale_shift(g.bn1)
        y1 = pre1 * scale1 + shift1
        mask1 = (y1 > 0).to(z.dtype)
        h2 = y1 * mask1
        out = torch.tanh(F.conv_transpose2d(h2, g.up2.weight, g.up2.bias, stride=2, padding=1))
        # tangents: one per coordinate of z, (N * d, ...) in the batch dimension
        t0 = g.fc.weight[:, :d].t().reshape(1, d, width, 7, 7)            # d pre0 / d z_k
        t1 = (t0 * (scale0 * mask0).unsqueeze(1)).reshape(n * d, width, 7, 7)
        t1 = F.conv_transpose2d(t1, g.up1.weight, None, stride=2, padding=1)
        t2 = t1.view(n, d, *t1.shape[1:]) * (scale1 * mask1).unsqueeze(1)
        t2 = F.conv_transpose2d(t2.reshape(n * d, *t1.shape[1:]), g.up2.weight, None, stride=2, padding=1)
        images = out.flatten(1)
        jacobian = t2.view(n, d, -1) * (1 - images * images).unsqueeze(1)
        return images, jacobian
