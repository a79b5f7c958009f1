"""Frame encoder and decoder of the E2FGVI generators.

Both work on single frames: the encoder maps (n, 3, H, W) to (n, 128, H/4, W/4)
and the decoder maps features back to (n, 3, H, W) before the final tanh.
Module indices follow the published checkpoints (activations occupy the odd
slots), so state_dict keys line up.
"""
import torch
import torch.nn.functional as F
from torch import nn

# Channel groups of the four grouped convolutions that follow layer 8. Each
# of them sees the layer-8 output and the previous output, interleaved per
# group.
_GROUPS = (1, 2, 4, 8, 1)


def _act():
    return nn.LeakyReLU(0.2, inplace=True)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        convs = [
            nn.Conv2d(3, 64, 3, stride=2, padding=1),
            nn.Conv2d(64, 64, 3, stride=1, padding=1),
            nn.Conv2d(64, 128, 3, stride=2, padding=1),
            nn.Conv2d(128, 256, 3, stride=1, padding=1),
            nn.Conv2d(256, 384, 3, stride=1, padding=1, groups=1),
            nn.Conv2d(640, 512, 3, stride=1, padding=1, groups=2),
            nn.Conv2d(768, 384, 3, stride=1, padding=1, groups=4),
            nn.Conv2d(640, 256, 3, stride=1, padding=1, groups=8),
            nn.Conv2d(512, 128, 3, stride=1, padding=1, groups=1),
        ]
        layers = []
        for conv in convs:
            layers += [conv, _act()]
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        n = x.shape[0]
        out = x
        skip = None
        for i, layer in enumerate(self.layers):
            if i == 8:
                skip = out
            if i > 8 and i % 2 == 0:
                g = _GROUPS[(i - 8) // 2]
                h, w = skip.shape[-2:]
                out = torch.cat([skip.reshape(n, g, -1, h, w), out.reshape(n, g, -1, h, w)], 2)
                out = out.reshape(n, -1, h, w)
            out = layer(out)
        return out


class UpConv(nn.Module):
    """2x bilinear upsampling (align_corners=True) followed by a 3x3 conv."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=1, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


def make_decoder():
    return nn.Sequential(
        UpConv(128, 128),
        _act(),
        nn.Conv2d(128, 64, 3, stride=1, padding=1),
        _act(),
        UpConv(64, 64),
        _act(),
        nn.Conv2d(64, 3, 3, stride=1, padding=1),
    )



# -- decoding only part of a frame ----------------------------------------
#
# The loop keeps the prediction only inside the mask, so it may decode just
# the mask's bounding box. Each 3x3 conv then runs on its input grown by one
# pixel (zero padding only where the box meets the frame's edge), and the
# align_corners upsampling keeps the full frame's sampling positions, so the
# box holds the same values as a full decode.


def _conv_input_span(lo, hi, size):
    return max(0, lo - 1), min(size, hi + 1)


def _upsample_input_span(lo, hi, size_in, size_out):
    scale = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    return int(lo * scale), min(size_in, int((hi - 1) * scale) + 2)


def _conv_box(conv, x, have, want, size):
    """A 3x3/padding-1 conv of ``x`` (covering rows/cols ``have``) for the output rows/cols ``want``."""
    (hy0, _), (hx0, _) = have
    (wy0, wy1), (wx0, wx1) = want
    ys = _conv_input_span(wy0, wy1, size[0])
    xs = _conv_input_span(wx0, wx1, size[1])
    x = x[..., ys[0] - hy0:ys[1] - hy0, xs[0] - hx0:xs[1] - hx0]
    pad = (int(wx0 == 0), int(wx1 == size[1]), int(wy0 == 0), int(wy1 == size[0]))
    return F.conv2d(F.pad(x, pad), conv.weight, conv.bias)


def _upsample_box(x, have, want, size_in, size_out):
    """align_corners=True 2x bilinear upsampling of ``x`` (covering ``have``) at output rows/cols ``want``."""
    for axis, dim in ((0, -2), (1, -1)):
        lo, hi = want[axis]
        scale = (size_in[axis] - 1) / (size_out[axis] - 1) if size_out[axis] > 1 else 0.0
        src = torch.arange(lo, hi, device=x.device, dtype=torch.float32) * scale
        i0 = src.long()
        i1 = torch.clamp(i0 + 1, max=size_in[axis] - 1)
        shape = [1] * x.dim()
        shape[dim] = -1
        frac = (src - i0).to(x.dtype).view(shape)
        a = x.index_select(dim, i0 - have[axis][0])
        b = x.index_select(dim, i1 - have[axis][0])
        x = a + (b - a) * frac
    return x


def decode_box(decoder, feat, box):
    """What ``decoder(feat)`` gives inside ``box`` ((y0, y1), (x0, x1)), computed only around it.

    feat: (n, 128, h, w). Returns (n, 3, y1 - y0, x1 - x0), before the tanh.
    """
    up1, act1, conv2, act2, up2, act3, conv4 = decoder
    h, w = feat.shape[-2:]
    s0, s1, s2 = (h, w), (2 * h, 2 * w), (4 * h, 4 * w)

    def conv_in(span, size):
        return tuple(_conv_input_span(*span[i], size[i]) for i in range(2))

    def up_in(span, size_in, size_out):
        return tuple(_upsample_input_span(*span[i], size_in[i], size_out[i]) for i in range(2))

    # What each stage must produce, from the output back to the features.
    out3 = conv_in(box, s2)
    up2_out = conv_in(out3, s2)
    out2 = up_in(up2_out, s1, s2)
    out1 = conv_in(out2, s1)
    up1_out = conv_in(out1, s1)
    feat_in = up_in(up1_out, s0, s1)

    x = feat[..., feat_in[0][0]:feat_in[0][1], feat_in[1][0]:feat_in[1][1]]
    x = _upsample_box(x, feat_in, up1_out, s0, s1)
    x = act1(_conv_box(up1.conv, x, up1_out, out1, s1))
    x = act2(_conv_box(conv2, x, out1, out2, s1))
    x = _upsample_box(x, out2, up2_out, s1, s2)
    x = act3(_conv_box(up2.conv, x, up2_out, out3, s2))
    return _conv_box(conv4, x, out3, box, s2)
