"""Soft split (feature map -> overlapping patch tokens) and soft composition (back).

Patches are 7x7 with stride 3 and padding 3 on the 128-channel feature map,
so a (h, w) map gives (h/3, w/3) tokens when h, w are multiples of 3.
"""
import torch
import torch.nn.functional as F
from torch import nn

KERNEL = (7, 7)
STRIDE = (3, 3)
PADDING = (3, 3)


def token_grid(size):
    """Token grid (rows, cols) for a feature map of ``size`` (h, w)."""
    return tuple(
        (size[i] + 2 * PADDING[i] - (KERNEL[i] - 1) - 1) // STRIDE[i] + 1 for i in range(2)
    )


def fold(x, size):
    return F.fold(x, output_size=size, kernel_size=KERNEL, stride=STRIDE, padding=PADDING)


def unfold(x):
    return F.unfold(x, kernel_size=KERNEL, stride=STRIDE, padding=PADDING)


# A linear map of unfolded patches is a strided convolution, and folding a
# linear map of tokens is a transposed convolution: the same sums (to float
# rounding) without materialising the 49x larger patch matrices. The "fast"
# paths below use that.


def patch_conv(x, linear):
    """``linear(unfold(x).transpose)`` as a conv: (n, c, h, w) -> (n, out, rows, cols)."""
    weight = linear.weight.view(linear.out_features, -1, *KERNEL)
    return F.conv2d(x, weight, linear.bias, stride=STRIDE, padding=PADDING)


def fold_linear(tokens, linear, size):
    """``fold(linear(tokens).transpose, size)`` as a transposed conv.

    tokens (n, rows, cols, in) -> (n, out / 49, h, w). The folded bias is a
    fixed pattern (each position sums the biases of the patches covering it).
    """
    rows, cols = tokens.shape[1:3]
    out_ch = linear.out_features // (KERNEL[0] * KERNEL[1])
    weight = linear.weight.t().reshape(-1, out_ch, *KERNEL)
    natural = tuple((g - 1) * STRIDE[i] - 2 * PADDING[i] + KERNEL[i] for i, g in enumerate((rows, cols)))
    extra = tuple(size[i] - natural[i] for i in range(2))
    y = F.conv_transpose2d(tokens.permute(0, 3, 1, 2), weight, stride=STRIDE, padding=PADDING, output_padding=extra)
    if linear.bias is not None:
        y = y + fold(linear.bias.view(1, -1, 1).expand(1, -1, rows * cols), size)
    return y


class SoftSplit(nn.Module):
    def __init__(self, channels=128, hidden=512):
        super().__init__()
        self.embedding = nn.Linear(KERNEL[0] * KERNEL[1] * channels, hidden)

    def forward(self, x, b, fast=True):
        """(b*t, c, h, w) -> tokens (b, t, rows, cols, hidden)."""
        rows, cols = token_grid(x.shape[-2:])
        if fast:
            feat = patch_conv(x, self.embedding).permute(0, 2, 3, 1)
        else:
            feat = self.embedding(unfold(x).permute(0, 2, 1))
        return feat.reshape(b, -1, rows, cols, feat.shape[-1])


class SoftComp(nn.Module):
    """Tokens back to a feature map.

    The 432x240 model adds a learned per-position bias of fixed size 60x108
    (so it only works at that feature size); the HQ model instead runs a 3x3
    conv on the folded map and works at any size.
    """

    def __init__(self, channels=128, hidden=512, fixed_size=None):
        super().__init__()
        self.embedding = nn.Linear(hidden, KERNEL[0] * KERNEL[1] * channels)
        self.fixed_size = fixed_size
        if fixed_size is not None:
            self.bias = nn.Parameter(torch.zeros(channels, *fixed_size))
        else:
            self.bias_conv = nn.Conv2d(channels, channels, 3, stride=1, padding=1)

    def forward(self, x, size, fast=True):
        """tokens (b, t, rows, cols, hidden) -> (b*t, c, h, w) for a map of ``size``."""
        b, t, rows, cols, hidden = x.shape
        if fast:
            feat = fold_linear(x.reshape(b * t, rows, cols, hidden), self.embedding, size)
        else:
            feat = self.embedding(x.reshape(b * t, rows * cols, hidden)).permute(0, 2, 1)
            feat = fold(feat, size)
        if self.fixed_size is not None:
            return feat + self.bias[None]
        return self.bias_conv(feat)
