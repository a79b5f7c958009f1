"""SPyNet optical flow (the flow completion network of E2FGVI) and flow warping.

Built without weights: the checkpoint carries SPyNet's fine-tuned weights as
``update_spynet.*``, so nothing is downloaded.
"""
import torch
import torch.nn.functional as F
from torch import nn

_LEVELS = 6


def flow_warp(x, flow, padding_mode="zeros"):
    """Sample ``x`` (n, c, h, w) at pixel + ``flow`` (n, h, w, 2; x then y, in pixels)."""
    h, w = x.shape[-2:]
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device, dtype=x.dtype),
        torch.arange(w, device=x.device, dtype=x.dtype),
        indexing="ij",
    )
    grid = torch.stack((gx, gy), 2) + flow
    gx = 2.0 * grid[..., 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * grid[..., 1] / max(h - 1, 1) - 1.0
    grid = torch.stack((gx, gy), dim=3)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


class _Conv(nn.Module):
    """A conv with an optional ReLU; the ``conv`` attribute matches checkpoint keys."""

    def __init__(self, cin, cout, relu):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 7, stride=1, padding=3)
        self.relu = relu

    def forward(self, x):
        x = self.conv(x)
        return F.relu(x, inplace=True) if self.relu else x


class _Level(nn.Module):
    """Refines a flow from (reference, warped support, current flow): 8 channels in, 2 out."""

    def __init__(self):
        super().__init__()
        chans = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(
            *[_Conv(chans[i], chans[i + 1], relu=i < 4) for i in range(5)]
        )

    def forward(self, x):
        return self.basic_module(x)


class SPyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.basic_module = nn.ModuleList([_Level() for _ in range(_LEVELS)])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _pyramid_flow(self, ref, supp):
        n, _, h, w = ref.shape
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(_LEVELS - 1):
            refs.append(F.avg_pool2d(refs[-1], kernel_size=2, stride=2, count_include_pad=False))
            supps.append(F.avg_pool2d(supps[-1], kernel_size=2, stride=2, count_include_pad=False))
        refs, supps = refs[::-1], supps[::-1]

        flow = refs[0].new_zeros(n, 2, h // 32, w // 32)
        for level in range(_LEVELS):
            if level == 0:
                up = flow
            else:
                up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = flow_warp(supps[level], up.permute(0, 2, 3, 1).contiguous(), padding_mode="border")
            flow = up + self.basic_module[level](torch.cat([refs[level], warped, up], 1))
        return flow

    def forward(self, ref, supp):
        """Flow from ``ref`` to ``supp`` (n, 3, h, w in [0, 1]) -> (n, 2, h, w) in pixels."""
        h, w = ref.shape[-2:]
        h_up = -(-h // 32) * 32
        w_up = -(-w // 32) * 32
        ref = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(self._pyramid_flow(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        scale = torch.tensor([w / w_up, h / h_up], dtype=flow.dtype, device=flow.device)
        return flow * scale.view(1, 2, 1, 1)
