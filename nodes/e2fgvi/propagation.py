"""Bidirectional second-order deformable feature propagation (after BasicVSR++).

Local-frame features are propagated backward then forward through the window.
Each step aligns the previous two propagated features to the current frame with
a modulated deformable convolution whose offsets are the flow plus a learned
residue. ``torchvision.ops.deform_conv2d`` with ``mask=`` is the same operation
as mmcv's ModulatedDeformConv2d (same offset and mask layout).
"""
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

from .spynet import flow_warp

_DIRECTIONS = ("backward_", "forward_")


def deform_conv3x3_sampled(x, offset, mask, weight, bias, groups):
    """Modulated deformable 3x3 conv (stride 1, padding 1) built from grid_sample and one matmul.

    Computes what ``deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)``
    computes (same offset/mask layout, same zero-outside bilinear sampling) to
    float rounding, but runs faster on the CPU (about 1.6x here), where
    torchvision's kernel samples in a single-threaded loop.
    """
    b, c, h, w = x.shape
    taps = weight.shape[-2] * weight.shape[-1]
    off = offset.view(b, groups, taps, 2, h, w)
    ky = torch.arange(3, dtype=x.dtype, device=x.device).repeat_interleave(3).view(1, 1, taps, 1, 1) - 1
    kx = torch.arange(3, dtype=x.dtype, device=x.device).repeat(3).view(1, 1, taps, 1, 1) - 1
    ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, 1, 1, h, 1) + ky + off[:, :, :, 0]
    xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, 1, 1, w) + kx + off[:, :, :, 1]
    grid = torch.stack((xs * (2.0 / max(w - 1, 1)) - 1.0, ys * (2.0 / max(h - 1, 1)) - 1.0), -1)
    cols = F.grid_sample(x.reshape(b * groups, c // groups, h, w), grid.view(b * groups, taps * h, w, 2),
                         mode="bilinear", padding_mode="zeros", align_corners=True)
    cols = cols.view(b, groups, c // groups, taps, h, w) * mask.view(b, groups, 1, taps, h, w)
    out = torch.matmul(weight.reshape(weight.shape[0], -1), cols.view(b, c * taps, h * w))
    return out.view(b, -1, h, w) + bias.view(1, -1, 1, 1)


class SecondOrderAlignment(nn.Module):
    def __init__(self, channels, deform_groups=16, max_residue=10.0):
        super().__init__()
        self.deform_groups = deform_groups
        self.max_residue = max_residue
        # The deformable conv's own parameters sit on this module (checkpoint
        # keys ``deform_align.<dir>.weight`` / ``.bias``).
        self.weight = nn.Parameter(torch.zeros(channels, 2 * channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * channels + 4, channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, 27 * deform_groups, 3, 1, 1),
        )

    def forward(self, x, cond, flow_1, flow_2, fast=True):
        out = self.conv_offset(torch.cat([cond, flow_1, flow_2], dim=1))
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = self.max_residue * torch.tanh(torch.cat((o1, o2), dim=1))
        offset_1, offset_2 = torch.chunk(offset, 2, dim=1)
        # deform_conv2d wants (dy, dx) pairs; flows are (dx, dy).
        offset_1 = offset_1 + flow_1.flip(1).repeat(1, offset_1.shape[1] // 2, 1, 1)
        offset_2 = offset_2 + flow_2.flip(1).repeat(1, offset_2.shape[1] // 2, 1, 1)
        offset = torch.cat([offset_1, offset_2], dim=1)
        mask = torch.sigmoid(mask)
        if fast and x.device.type == "cpu":
            return deform_conv3x3_sampled(x, offset, mask, self.weight, self.bias, self.deform_groups)
        return deform_conv2d(x, offset, self.weight, self.bias, stride=1, padding=1, dilation=1, mask=mask)


class BidirectionalPropagation(nn.Module):
    def __init__(self, channels=128):
        super().__init__()
        self.channels = channels
        self.deform_align = nn.ModuleDict({d: SecondOrderAlignment(channels) for d in _DIRECTIONS})
        self.backbone = nn.ModuleDict({
            d: nn.Sequential(
                nn.Conv2d((2 + i) * channels, channels, 3, 1, 1),
                nn.LeakyReLU(0.1, inplace=True),
                nn.Conv2d(channels, channels, 3, 1, 1),
            )
            for i, d in enumerate(_DIRECTIONS)
        })
        self.fusion = nn.Conv2d(2 * channels, channels, 1, 1, 0)

    def _direction(self, name, feats, flows, earlier, fast):
        """Propagate ``feats`` (list of (b, c, h, w)) along one direction.

        ``flows`` (b, t-1, 2, h, w). The published model takes the flow for
        step i from flow slot i-1 in both directions (in the backward pass that
        is not the flow between the frames being aligned); the checkpoints were
        trained that way, so it is kept. ``earlier`` holds the other
        direction's results (per frame) that this direction also sees.
        """
        t = len(feats)
        order = range(t - 1, -1, -1) if name == "backward_" else range(t)
        align = self.deform_align[name]
        backbone = self.backbone[name]
        out = []
        prop = feats[0].new_zeros(feats[0].shape)
        for step, idx in enumerate(order):
            current = feats[idx]
            if step > 0:
                flow_1 = flows[:, step - 1]
                cond_1 = flow_warp(prop, flow_1.permute(0, 2, 3, 1))
                if step > 1:
                    prop_2 = out[-2]
                    flow_2 = flow_1 + flow_warp(flows[:, step - 2], flow_1.permute(0, 2, 3, 1))
                    cond_2 = flow_warp(prop_2, flow_2.permute(0, 2, 3, 1))
                else:
                    prop_2 = torch.zeros_like(prop)
                    flow_2 = torch.zeros_like(flow_1)
                    cond_2 = torch.zeros_like(cond_1)
                cond = torch.cat([cond_1, current, cond_2], dim=1)
                prop = align(torch.cat([prop, prop_2], dim=1), cond, flow_1, flow_2, fast)
            inputs = [current] + ([earlier[idx]] if earlier is not None else []) + [prop]
            prop = prop + backbone(torch.cat(inputs, dim=1))
            out.append(prop)
        if name == "backward_":
            out = out[::-1]
        return out

    def forward(self, x, flows_backward, flows_forward, fast=True):
        """x (b, t, c, h, w); flows (b, t-1, 2, h, w) -> (b, t, c, h, w).

        ``fast=False`` uses torchvision's deformable conv everywhere (the
        published computation); otherwise the sampled version on the CPU.
        """
        feats = list(x.unbind(1))
        backward = self._direction("backward_", feats, flows_backward, None, fast)
        forward = self._direction("forward_", feats, flows_forward, backward, fast)
        fused = [self.fusion(torch.cat([b, f], dim=1)) for b, f in zip(backward, forward)]
        return torch.stack(fused, dim=1) + x
