"""The E2FGVI and E2FGVI-HQ generators.

One class serves both: they differ only in soft composition (fixed 60x108
bias vs a 3x3 conv) and hence in the sizes they accept. Besides ``forward``
(the published single-call interface), the generator exposes its stages so an
inference loop can reuse per-frame and per-pair results across windows:

    encode(frames)                 per frame
    flow_frames(frames)            per frame (quarter size, [0, 1])
    flow(a, b)                     per frame pair
    complete(local, refs, ...)     per window
    decode(features)               per frame of a window
    decode_box(features, box)      the same, inside a box only
"""
import torch
import torch.nn.functional as F
from torch import nn

from .encoder import Encoder, decode_box, make_decoder
from .focal_transformer import TemporalFocalBlock
from .propagation import BidirectionalPropagation
from .soft_split import SoftComp, SoftSplit
from .spynet import SPyNet

CHANNELS = 128
HIDDEN = 512
DEPTH = 8
HEADS = 4

# Input sizes must be multiples of these (the loop pads to them): the feature
# map (1/4) must split into whole token windows (tokens are 1/3 of features,
# windows 5x9 tokens).
SIZE_MULTIPLE = (60, 108)

# The 432x240 model's soft composition bias is fixed to this feature size.
FIXED_FEATURE_SIZE = (60, 108)


class Generator(nn.Module):
    def __init__(self, model="e2fgvi"):
        super().__init__()
        if model not in ("e2fgvi", "e2fgvi_hq"):
            raise ValueError(f"unknown E2FGVI model {model!r}")
        self.model = model
        self.encoder = Encoder()
        self.decoder = make_decoder()
        self.feat_prop_module = BidirectionalPropagation(CHANNELS)
        self.ss = SoftSplit(CHANNELS, HIDDEN)
        self.sc = SoftComp(CHANNELS, HIDDEN, fixed_size=None if model == "e2fgvi_hq" else FIXED_FEATURE_SIZE)
        self.transformer = nn.ModuleList([TemporalFocalBlock(HIDDEN, HEADS) for _ in range(DEPTH)])
        self.update_spynet = SPyNet()

    def check_size(self, height, width):
        """Raise ValueError unless frames of height x width can go through the network."""
        if height % SIZE_MULTIPLE[0] or width % SIZE_MULTIPLE[1]:
            raise ValueError(
                f"E2FGVI input {width}x{height} must be a multiple of "
                f"{SIZE_MULTIPLE[1]}x{SIZE_MULTIPLE[0]} (pad it first)")
        if self.model == "e2fgvi" and (height, width) != (4 * FIXED_FEATURE_SIZE[0], 4 * FIXED_FEATURE_SIZE[1]):
            raise ValueError(f"the e2fgvi model only works at 432x240, not {width}x{height}")

    # -- per-frame and per-pair stages ---------------------------------

    def encode(self, frames):
        """Masked frames (n, 3, H, W) in [-1, 1] -> features (n, 128, H/4, W/4)."""
        return self.encoder(frames)

    def flow_frames(self, frames):
        """Masked frames (n, 3, H, W) in [-1, 1] -> quarter-size frames in [0, 1] for SPyNet."""
        return F.interpolate((frames + 1) / 2, scale_factor=1 / 4, mode="bilinear",
                             align_corners=True, recompute_scale_factor=True)

    def flow(self, ref, supp):
        """Flow from quarter-size frames ``ref`` to ``supp`` (n, 2, h, w)."""
        return self.update_spynet(ref, supp)

    # -- per-window stages ---------------------------------------------

    def complete(self, local_feat, ref_feat, flows_next, flows_prev, n_out=None, fast=True):
        """Fill the features of a window.

        local_feat (b, l, c, h, w) and ref_feat (b, r, c, h, w): encoder features;
        flows_next[:, i] is the flow from local frame i to i+1, flows_prev[:, i]
        from i+1 to i, both (b, l-1, 2, h, w). Returns the completed features
        (b*n, c, h, w) of the first ``n_out`` local frames (all l by default).
        ``fast=False`` computes attention and deformable convs the way the
        published code does; the fast kernels agree with them to float rounding.
        """
        b, l, c, h, w = local_feat.shape
        n_out = l if n_out is None else n_out
        local_feat = self.feat_prop_module(local_feat, flows_next, flows_prev, fast)
        feat = torch.cat((local_feat, ref_feat), dim=1)
        t = feat.shape[1]
        tokens = self.ss(feat.reshape(b * t, c, h, w), b, fast)
        for i, block in enumerate(self.transformer):
            # The last block only needs queries for the frames we decode.
            last = i == len(self.transformer) - 1
            tokens = block(tokens, (h, w), n_out if last else None, fast)
        trans = self.sc(tokens, (h, w), fast).view(b, n_out, c, h, w)
        return (feat[:, :n_out] + trans).reshape(b * n_out, c, h, w)

    def decode(self, feat):
        """Completed features (n, 128, h, w) -> frames (n, 3, 4h, 4w) in [-1, 1]."""
        return torch.tanh(self.decoder(feat))

    def decode_box(self, feat, box):
        """What ``decode`` gives inside ``box`` ((y0, y1), (x0, x1)) of the frame, computed only around it."""
        return torch.tanh(decode_box(self.decoder, feat, box))

    # -- the published interface ---------------------------------------

    def forward(self, masked_frames, num_local_frames, fast=True):
        """masked_frames (b, t, 3, H, W) in [-1, 1], local frames first.

        Returns (frames (b*t, 3, H, W), (flows_next, flows_prev)) like the
        published generator.
        """
        b, t, ch, H, W = masked_frames.shape
        l = num_local_frames
        small = self.flow_frames(masked_frames[:, :l].reshape(b * l, ch, H, W))
        small = small.view(b, l, ch, *small.shape[-2:])
        a = small[:, :-1].reshape(-1, ch, *small.shape[-2:])
        z = small[:, 1:].reshape(-1, ch, *small.shape[-2:])
        flows_next = self.flow(a, z).view(b, l - 1, 2, *small.shape[-2:])
        flows_prev = self.flow(z, a).view(b, l - 1, 2, *small.shape[-2:])

        feat = self.encode(masked_frames.reshape(b * t, ch, H, W))
        feat = feat.view(b, t, *feat.shape[1:])
        out = self.complete(feat[:, :l], feat[:, l:], flows_next, flows_prev, n_out=t, fast=fast)
        return self.decode(out), (flows_next, flows_prev)
