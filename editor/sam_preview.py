"""The instant mask: SAM's answer to the prompts on one frame, while the user clicks. No Qt.

SAM's cost is nearly all in its image encoder (a ViT at 1024 px); the
prompt decoder that turns clicks into a mask is cheap. So the encoder runs
once per frame, model and checkpoint, and its embedding is kept in the
engine's on-disk cache (`nodes.sam_embedding`: the same entries SegmentSAM
reads and writes in a run). Every later click on that frame, in this
process or the next, and a run of the graph cost one decoder pass.

The work runs on one background thread. Requests carry the whole prompt
state of a frame; a request that arrives while the encoder runs replaces the
one waiting, and a result is only handed back when no newer request waits,
so the mask on screen follows the latest clicks. Nothing of the graph runs
here except, when its frames are not at hand, the source that gives them.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..nodes import sam_embedding
from ..nodes.sam_embedding import Decoder, Embedding, embedding_key, load_embedding


def decode(sam, emb: Embedding, frame_prompts: dict, multimask: str, frame: int) -> np.ndarray:
    """The label map for {object id: {"boxes": [...], "points": [...]}} from a frame's embedding:
    the prompt decoder only, painted exactly as SegmentSAM paints it."""
    from ..nodes.segment import frame_labels

    h, w = emb.original_size
    return frame_labels(Decoder(sam, emb), frame_prompts, multimask, w, h, frame, sam.mask_threshold)


@dataclass
class Request:
    """Everything the instant mask of one frame depends on."""

    frame: int
    prompts: dict  # {object id: {"boxes": [...], "points": [...]}} as SegmentSAM gets them
    model: str
    checkpoint: Path
    multimask: str
    image: Callable[[], np.ndarray]  # reads the frame (may render the frames' source)
    serial: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class Result:
    request: Request
    labels: np.ndarray
    decode_seconds: float
    encoded: bool  # whether the encoder ran for this result


class PreviewWorker:
    """One background thread that answers the latest Request; callbacks run on that thread."""

    def __init__(self, cache, models=None, device: str = "auto",
                 on_result: Callable[[Result], None] = lambda r: None,
                 on_progress: Callable[[Request, str], None] = lambda r, text: None,
                 on_error: Callable[[Request, str], None] = lambda r, text: None):
        self.cache, self._models, self.device = cache, models, device
        self.on_result, self.on_progress, self.on_error = on_result, on_progress, on_error
        self.encoder_calls = 0
        self.decoder_calls = 0
        self._hot: tuple[str, Embedding] | None = None  # the last frame's embedding, kept in memory
        self._waiting: Request | None = None
        self._serial = 0
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="inpainterz-sam-preview", daemon=True)
        self._thread.start()

    @property
    def models(self):
        if self._models is None:
            from ..engine.models import get_manager

            self._models = get_manager()
        return self._models

    def request(self, req: Request) -> int:
        """Queue `req` in place of any request still waiting; returns its serial."""
        with self._cond:
            self._serial += 1
            req.serial = self._serial
            self._waiting = req
            self._cond.notify_all()
            return req.serial

    def idle(self) -> bool:
        with self._cond:
            return self._waiting is None and not self._busy

    def wait_idle(self, timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.idle():
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _newer_waiting(self) -> bool:
        with self._cond:
            return self._waiting is not None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._waiting is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                req, self._waiting = self._waiting, None
                self._busy = True
            try:
                self._answer(req)
            except Exception as exc:  # shown to the user; the editor goes on
                self.on_error(req, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
            finally:
                with self._cond:
                    self._busy = False

    def _sam(self, req: Request):
        from ..engine.devices import resolve_device
        from ..nodes.segment import sam_model

        self.device = resolve_device(self.device)
        if ("SegmentSAM", req.model) not in self.models:
            self.on_progress(req, f"loading SAM {req.model} from {Path(req.checkpoint).name} (once per session)…")
        return sam_model(self.models, self.device, req.model, req.checkpoint)

    def _embedding(self, req: Request) -> tuple[object, Embedding, bool]:
        """(SAM, the frame's embedding, whether the encoder ran for it)."""
        image = req.image()
        key = embedding_key(image, req.model, req.checkpoint)
        emb = self._hot[1] if self._hot is not None and self._hot[0] == key else load_embedding(self.cache, key)
        if emb is not None:
            self._hot = (key, emb)
            return self._sam(req), emb, False
        self.on_progress(req, f"frame {req.frame}: computing SAM's image embedding (once per frame)…")
        sam = self._sam(req)
        # Through the shared look-up: a run encoding this frame right now hands its embedding over.
        emb, encoded = self.models.run(sam_embedding.cached_embedding, self.cache, sam, image, req.model,
                                       req.checkpoint, keep=(sam,))
        self.encoder_calls += int(encoded)
        self._hot = (key, emb)
        return sam, emb, encoded

    def _answer(self, req: Request) -> None:
        if not req.prompts:
            self.on_result(Result(req, None, 0.0, False))
            return
        sam, emb, encoded = self._embedding(req)
        if self._newer_waiting():
            return  # the clicks moved on while the encoder ran: answer the latest instead
        t0 = time.perf_counter()
        self.decoder_calls += 1
        labels = decode(sam, emb, req.prompts, req.multimask, req.frame)
        if self._newer_waiting():
            return
        self.on_result(Result(req, labels, time.perf_counter() - t0, encoded))
