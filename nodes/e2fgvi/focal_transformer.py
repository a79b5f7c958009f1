"""Temporal focal transformer blocks.

Tokens (b, t, rows, cols, 512) attend within (5, 9) windows across all t
frames. Each window's queries see:

1. the keys of their own window,
2. keys of the neighbouring windows' border strips (the window rolled by half
   its size in the four diagonal directions, minus positions already in the
   window: the ``valid_ind_rolled`` buffer),
3. one pooled key per window for the (5, 9) neighbourhood of windows, each
   window pooled by a learned linear layer; neighbours outside the grid get
   a -100 logit bias, as in the published model.

The feed-forward part (F3N) folds hidden channels back to the feature map
and unfolds them again so overlapping patches exchange information.
"""
import torch
import torch.nn.functional as F
from torch import nn

from . import soft_split

WINDOW = (5, 9)
EXPAND = (WINDOW[0] // 2, WINDOW[1] // 2)
_FF_HIDDEN = 1960
_OUTSIDE_LOGIT = -100.0


def rolled_border_index(window=WINDOW, expand=EXPAND):
    """Indices, within the four rolled copies of a window, of the positions outside it."""
    wh, ww = window
    eh, ew = expand
    masks = []
    for rows, cols in (
        (slice(None, -eh), slice(None, -ew)),
        (slice(None, -eh), slice(ew, None)),
        (slice(eh, None), slice(None, -ew)),
        (slice(eh, None), slice(ew, None)),
    ):
        m = torch.ones(wh, ww)
        m[rows, cols] = 0
        masks.append(m)
    return torch.stack(masks).flatten().nonzero(as_tuple=False).view(-1)


def key_positions(H, W, border_index):
    """Flat token positions (y * W + x) each window attends to, for an H x W token grid.

    Returns (own (n_windows, 45), border (n_windows, len(border_index))):
    a window's own positions, and the positions its copies rolled by half a
    window in the four diagonal directions bring into it (wrapping around
    like torch.roll), kept where ``border_index`` says. Windows are in
    row-major order.
    """
    wh, ww = WINDOW
    eh, ew = EXPAND
    nh, nw = H // wh, W // ww
    rows = (torch.arange(nh) * wh).view(nh, 1, 1, 1) + torch.arange(wh).view(1, 1, wh, 1)
    cols = (torch.arange(nw) * ww).view(1, nw, 1, 1) + torch.arange(ww).view(1, 1, 1, ww)
    own = (rows * W + cols).reshape(nh * nw, wh * ww)
    rolled = []
    for sh, sw in ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew)):
        # torch.roll(k, (sh, sw)) puts the token at (y - sh, x - sw) at (y, x).
        rolled.append((((rows - sh) % H) * W + (cols - sw) % W).reshape(nh * nw, wh * ww))
    border = torch.cat(rolled, 1)[:, border_index.cpu()]
    return own, border


def _merge_windows(x, b, t, H, W):
    """(b*nh*nw, t*wh*ww, C) -> (b, t, H, W, C)."""
    wh, ww = WINDOW
    C = x.shape[-1]
    x = x.view(b, H // wh, W // ww, t, wh, ww, C).permute(0, 3, 1, 4, 2, 5, 6)
    return x.reshape(b, t, H, W, C)


def pooled_neighbours(nh, nw):
    """For each window, its (5, 9) neighbourhood in the nh x nw grid of pooled windows.

    Returns (n_windows, 45) flat pooled-window indices, -1 outside the grid
    (the published model unfolds with zero padding there and biases those
    logits by -100).
    """
    kh, kw = WINDOW
    i = torch.arange(nh).view(nh, 1, 1, 1) + torch.arange(kh).view(1, 1, kh, 1) - kh // 2
    j = torch.arange(nw).view(1, nw, 1, 1) + torch.arange(kw).view(1, 1, 1, kw) - kw // 2
    inside = (i >= 0) & (i < nh) & (j >= 0) & (j < nw)
    return torch.where(inside, i * nw + j, torch.full_like(i * j, -1)).reshape(nh * nw, kh * kw)


class FocalWindowAttention(nn.Module):
    """Queries of a window attend to its own tokens, its neighbours' border strips
    and the pooled tokens of the surrounding windows, in all frames."""

    def __init__(self, dim=512, heads=4):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.register_buffer("valid_ind_rolled", rolled_border_index())
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self._layouts = {}

    def _layout(self, H, W, t, tq, device):
        """Gather indices for one token grid and frame count, computed once.

        Rows index a source made of the frames' tokens (t*H*W), then the pooled
        tokens (t*nh*nw), then one zero row. Returns (query rows (n_win, tq*45),
        key rows (n_win, t*165 + t*45), logit bias (n_win, t*165 + t*45)).
        """
        key = (H, W, t, tq, str(device))
        if key not in self._layouts:
            hw = H * W
            nh, nw = H // WINDOW[0], W // WINDOW[1]
            own, border = key_positions(H, W, self.valid_ind_rolled)
            frames = torch.arange(t).view(1, t, 1)
            query = (frames[:, :tq] * hw + own[:, None]).flatten(1)
            local = (frames * hw + torch.cat([own, border], 1)[:, None]).flatten(1)
            near = pooled_neighbours(nh, nw)[:, None]  # (n_win, 1, 45)
            zero_row = t * hw + t * nh * nw
            pooled = torch.where(near >= 0, t * hw + frames * (nh * nw) + near, torch.full_like(near, zero_row))
            keys = torch.cat([local, pooled.flatten(1)], 1)
            bias = torch.zeros(keys.shape).masked_fill(keys == zero_row, _OUTSIDE_LOGIT)
            self._layouts = {key: (query.to(device), keys.to(device), bias.to(device))}
        return self._layouts[key]

    def forward(self, x, pooled, n_query_frames=None, fast=True):
        """x (b, t, H, W, C) normed tokens; pooled (b, t, nh, nw, C).

        Returns (b, tq, H, W, C) for the first ``n_query_frames`` frames (all by default):
        keys and values always come from all t frames.
        """
        b, t, H, W, C = x.shape
        tq = t if n_query_frames is None else n_query_frames
        heads, hd = self.heads, C // self.heads
        query_rows, key_rows, bias = self._layout(H, W, t, tq, x.device)
        n_win = query_rows.shape[0]
        qkv = self.qkv(x).view(b, t * H * W, 3 * C)
        source = torch.cat([qkv[..., C:], self.qkv(pooled).view(b, -1, 3 * C)[..., C:],
                            qkv.new_zeros(b, 1, 2 * C)], 1)
        # One gather builds every window's keys and values in attention order
        # (the published code rolls the whole map four times and concatenates).
        kv = source[:, key_rows].view(b * n_win, -1, 2, heads, hd)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        q = qkv[:, :, :C][:, query_rows].view(b * n_win, -1, heads, hd).transpose(1, 2)
        bias = bias.to(q.dtype).repeat(b, 1)[:, None, None]
        if fast:
            # Fused attention: same result to float rounding, about twice as
            # fast on the CPU and without materialising the logits.
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        else:
            attn = torch.matmul(q * self.scale, k.transpose(-2, -1)) + bias
            out = torch.matmul(attn.softmax(dim=-1), v)
        out = out.transpose(1, 2).reshape(b * n_win, -1, C)
        return _merge_windows(self.proj(out), b, tq, H, W)


class FusionFeedForward(nn.Module):
    def __init__(self, dim=512, hidden=_FF_HIDDEN):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Linear(dim, hidden))
        self.conv2 = nn.Sequential(nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x, size, fast=True):
        """x (b, t, rows, cols, dim) tokens of feature maps of ``size`` (h, w)."""
        b, t, rows, cols, dim = x.shape
        # Overlap count per feature-map position, to average overlapping patches.
        kk = soft_split.KERNEL[0] * soft_split.KERNEL[1]
        overlap = soft_split.fold(x.new_ones(1, kk, rows * cols), size)
        if fast:
            # GELU commutes with unfold (it copies values, pads with zeros and
            # GELU(0) = 0), so the second linear map becomes a strided conv.
            y = soft_split.fold_linear(x.reshape(b * t, rows, cols, dim), self.conv1[0], size) / overlap
            y = soft_split.patch_conv(self.conv2[0](y), self.conv2[1])
            return y.permute(0, 2, 3, 1).reshape(b, t, rows, cols, dim)
        y = self.conv1(x.reshape(b * t, rows * cols, -1))
        c = y.shape[-1]
        y = soft_split.fold(y.permute(0, 2, 1), size) / overlap
        y = soft_split.unfold(y).permute(0, 2, 1).reshape(b, t, rows, cols, c)
        return self.conv2(y)


class TemporalFocalBlock(nn.Module):
    def __init__(self, dim=512, heads=4):
        super().__init__()
        wh, ww = WINDOW
        self.pool_layers = nn.ModuleList([nn.Linear(wh * ww, 1)])
        self.norm1 = nn.LayerNorm(dim)
        self.attn = FocalWindowAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim)

    def _pool_windows(self, x):
        """(b, t, H, W, C) -> one learned-pooled token per window (b, t, nh, nw, C)."""
        b, t, H, W, C = x.shape
        wh, ww = WINDOW
        x = x.reshape(b, t, H // wh, wh, W // ww, ww, C).permute(0, 1, 2, 4, 6, 3, 5)
        x = x.reshape(b, t, H // wh, W // ww, C, wh * ww)
        return self.pool_layers[0](x).squeeze(-1)

    def forward(self, x, size, n_query_frames=None, fast=True):
        """x (b, t, rows, cols, C) tokens -> same shape (first ``n_query_frames`` frames only if given)."""
        t, H, W = x.shape[1:4]
        if H % WINDOW[0] or W % WINDOW[1]:
            raise ValueError(f"token grid {H}x{W} is not a multiple of the {WINDOW} window")
        tq = t if n_query_frames is None else n_query_frames
        y = self.norm1(x)
        x = x[:, :tq] + self.attn(y, self._pool_windows(y), tq, fast)
        return x + self.mlp(self.norm2(x), size, fast)
