"""E2FGVI and E2FGVI-HQ video inpainting generators.

Our implementation of "Towards An End-to-End Framework for Flow-Guided Video
Inpainting" (CVPR 2022). It loads the published checkpoints with
``strict=True`` and reproduces the published inference loop.

Modules (each imports torch; nothing here does, so listing nodes stays
torch-free):

- ``encoder``: frame encoder and decoder
- ``spynet``: SPyNet optical flow and flow warping
- ``propagation``: bidirectional second-order deformable feature propagation
- ``soft_split``: soft split / soft composition between feature maps and tokens
- ``focal_transformer``: temporal focal transformer blocks
- ``generator``: both generator variants, as one class with staged methods
- ``checkpoint``: building and loading a generator from a checkpoint file
- ``loop``: the inference loops (reference, exact, bounded)
"""

MODELS = ("e2fgvi", "e2fgvi_hq")
MODES = ("exact", "bounded")  # the inference loops a render can use (see ``loop``)

# Checkpoint file names published by the authors.
CHECKPOINT_FILES = {
    "e2fgvi": "E2FGVI-CVPR22.pth",
    "e2fgvi_hq": "E2FGVI-HQ-CVPR22.pth",
}
