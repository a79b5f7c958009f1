"""SAM's image embedding of a frame, kept in the content cache, and the prompt decoder that reads it.

SAM's cost is nearly all in its image encoder (a ViT at 1024 px); the
prompt decoder that turns clicks and boxes into a mask is cheap. The
embedding of a frame is therefore an ordinary cache entry (committed
atomically), keyed by the frame's pixels, the model, the checkpoint file and
the precision it was computed in. SegmentSAM in a run and the editor's
instant mask both look it up under that key before they encode, so neither
encodes a frame the other has already encoded, in this process or the next
(and in one process, not while the other is still encoding it).

The decoder path (`object_logits`) is SamPredictor.predict's, with two
savings that do not change a value: the dense positional encoding of the
64x64 embedding grid depends on the weights only and is computed once per
model, and of SAM's candidate masks only the one with the best predicted
quality is scaled up to the frame's size.
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from ..engine.data import digest
from ..engine.models import checkpoint_id

EMBEDDING_VERSION = 1


@dataclass
class Embedding:
    features: np.ndarray  # (1, 256, 64, 64) float32: the encoder's output
    input_size: tuple  # (h, w) of the image resized for the encoder
    original_size: tuple  # (h, w) of the frame


def embedding_key(image: np.ndarray, model: str, checkpoint, half: bool = False) -> str:
    """The cache key of a frame's embedding: its pixels, the model, the checkpoint file and whether
    it was computed in half precision (a float16 embedding is not the float32 one)."""
    image = np.ascontiguousarray(image)
    precision = ["float16"] if half else []  # float32 keys stay as they were
    return digest("sam-embedding", EMBEDDING_VERSION, model, checkpoint_id(checkpoint), list(image.shape),
                  *precision, image.tobytes())


def load_embedding(cache, key: str) -> Embedding | None:
    entry = cache.lookup(key)
    if entry is None or entry.meta.get("kind") != "sam-embedding":
        return None
    try:
        features = np.load(entry.path / "features.npy")
    except (OSError, ValueError):
        return None
    return Embedding(features, tuple(entry.meta["input_size"]), tuple(entry.meta["original_size"]))


def store_embedding(cache, key: str, emb: Embedding) -> None:
    pending = cache.begin(key)
    try:
        np.save(pending.path / "features.npy", emb.features)
        cache.commit(pending, {"kind": "sam-embedding", "input_size": list(emb.input_size),
                               "original_size": list(emb.original_size)})
    except BaseException:
        cache.abort(pending)
        raise


def compute_embedding(sam, image: np.ndarray) -> Embedding:
    """Run SAM's image encoder on one RGB frame (under whatever autocast the caller set)."""
    import torch
    from segment_anything import SamPredictor

    predictor = SamPredictor(sam)
    with torch.inference_mode():
        predictor.set_image(np.ascontiguousarray(image), image_format="RGB")
        features = predictor.features.float().cpu().numpy()
    return Embedding(features, tuple(predictor.input_size), tuple(predictor.original_size))


# One lock per key (hashed into a small pool): the editor's worker and a run started meanwhile
# in the same process may both want a frame whose encoder is still running; the second waits
# and reads what the first stores instead of encoding it again.
_KEY_LOCKS = [threading.Lock() for _ in range(64)]


def cached_embedding(cache, sam, image: np.ndarray, model: str, checkpoint,
                     half: bool = False) -> tuple[Embedding, bool]:
    """(the frame's embedding, whether the encoder ran for it): from `cache` when it is there,
    else computed and stored. `cache` None: always computed, nothing stored."""
    if cache is None:
        return compute_embedding(sam, image), True
    key = embedding_key(image, model, checkpoint, half)
    with _KEY_LOCKS[int(key[:8], 16) % len(_KEY_LOCKS)]:
        emb = load_embedding(cache, key)
        if emb is not None:
            return emb, False
        emb = compute_embedding(sam, image)
        store_embedding(cache, key, emb)
        return emb, True


# ---------------------------------------------------------------- the prompt decoder

_dense_pe: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # prompt encoder -> its dense PE


def _image_pe(sam, device):
    pe = _dense_pe.get(sam.prompt_encoder)
    if pe is None or pe.device != device:
        pe = sam.prompt_encoder.get_dense_pe()
        _dense_pe[sam.prompt_encoder] = pe
    return pe


class Decoder:
    """SAM's prompt decoder over one frame's embedding (the features moved to the model's device once)."""

    def __init__(self, sam, emb: Embedding):
        import torch
        from segment_anything.utils.transforms import ResizeLongestSide

        self.sam, self.emb = sam, emb
        self.device = next(sam.parameters()).device
        self.features = torch.from_numpy(emb.features).to(self.device)
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)

    def object_logits(self, coords, labels, box, multimask: bool) -> np.ndarray:
        """Mask logits (H, W) at the frame's size for points (N, 2) with labels (N,) and/or a box (4,),
        in frame pixels: the candidate with the best predicted quality when `multimask`."""
        import torch

        sam, original = self.sam, self.emb.original_size
        points = boxes = None
        if coords is not None:
            c = torch.as_tensor(self.transform.apply_coords(coords, original), dtype=torch.float, device=self.device)
            lab = torch.as_tensor(labels, dtype=torch.int, device=self.device)
            points = (c[None], lab[None])
        if box is not None:
            boxes = torch.as_tensor(self.transform.apply_boxes(box, original), dtype=torch.float,
                                    device=self.device)[None]
        with torch.inference_mode():
            sparse, dense = sam.prompt_encoder(points=points, boxes=boxes, masks=None)
            low, quality = sam.mask_decoder(image_embeddings=self.features, image_pe=_image_pe(sam, self.device),
                                            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                            multimask_output=multimask)
            # Scaling up works channel by channel: scaling the chosen mask alone gives its same values.
            best = int(np.argmax(quality[0].float().cpu().numpy()))
            mask = sam.postprocess_masks(low[:, best:best + 1], self.emb.input_size, original)
            return mask[0, 0].float().cpu().numpy()
