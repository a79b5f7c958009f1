"""What a click costs in the editor's instant mask, stage by stage, measured in one run.

1. The click path without Qt, on one frame (the shared tennis clip's frame
   10 when it is there, else a synthetic frame; `--size WxH` scales it, e.g.
   1920x1080): the cache key of the frame, the embedding read back from the
   content cache, SAM's prompt encoder, its mask decoder, scaling the chosen
   mask up to the frame, painting the label map, and the overlay drawn over
   the frame. Then the first click on a frame (encoder included), a later
   click, and the decoder alone, as SamPredictor.predict does it (every
   candidate scaled up) and as the editor and SegmentSAM do it now.
2. `--editor`: the same clicks through the real editor (offscreen Qt): a
   mouse click on the viewer until SAM's mask is on screen, on a graph
   ReadImages -> PointPrompt -> SegmentSAM; the first click embeds the frame,
   the next ones decode.

Random ViT-B weights: timings do not depend on the values. Medians over
`--clicks` clicks.

    python bench/sam_preview.py [--clicks 10] [--threads 2] [--size 1920x1080] [--editor]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "tennis"


def frame(size: str | None) -> np.ndarray:
    import cv2

    path = SHARED / "00010.png"
    if path.exists():
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    else:
        image = np.random.default_rng(0).integers(0, 255, (240, 432, 3), dtype=np.uint8)
    if size:
        w, h = (int(v) for v in size.split("x"))
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return image


def median_time(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def stages(sam, image: np.ndarray, ckpt: Path, cache, clicks: int) -> None:
    import torch
    from segment_anything import SamPredictor

    from inpainterz.editor import sam_preview as sp
    from inpainterz.editor.overlay import overlay_labels
    from inpainterz.nodes import sam_embedding as se
    from inpainterz.nodes.segment import paint

    h, w = image.shape[:2]
    points = {1: {"boxes": [], "points": [[w * 0.45, h * 0.5, True, 1]]}}
    two = {1: {"boxes": [], "points": [[w * 0.45, h * 0.5, True, 1], [w * 0.2, h * 0.2, False, 1]]}}

    t0 = time.perf_counter()
    key = se.embedding_key(image, "vit_b", ckpt)
    emb = se.load_embedding(cache, key)
    assert emb is None
    emb = se.compute_embedding(sam, image)
    se.store_embedding(cache, key, emb)
    labels = sp.decode(sam, emb, points, "auto", 0)
    overlay_labels(image, labels)
    cold = time.perf_counter() - t0

    def later_click(prompts=two):
        e = se.load_embedding(cache, se.embedding_key(image, "vit_b", ckpt))
        overlay_labels(image, sp.decode(sam, e, prompts, "auto", 0))

    later = median_time(later_click, clicks)
    decoder = se.Decoder(sam, emb)
    coords = np.array([[w * 0.45, h * 0.5], [w * 0.2, h * 0.2]], np.float32)
    labels_in = np.array([1, 0])
    one = (coords[:1], labels_in[:1])

    predictor = SamPredictor(sam)
    predictor.features = torch.from_numpy(emb.features)
    predictor.input_size, predictor.original_size, predictor.is_image_set = emb.input_size, emb.original_size, True

    def before(c, lab, many):
        with torch.inference_mode():
            m, s, _ = predictor.predict(point_coords=c, point_labels=lab, multimask_output=many, return_logits=True)
            return m[int(np.argmax(s))]

    dec_before_1 = median_time(lambda: before(*one, True), clicks)
    dec_now_1 = median_time(lambda: decoder.object_logits(*one, None, True), clicks)
    dec_before_2 = median_time(lambda: before(coords, labels_in, False), clicks)
    dec_now_2 = median_time(lambda: decoder.object_logits(coords, labels_in, None, False), clicks)

    # The decoder's parts, one at a time.
    c = torch.as_tensor(decoder.transform.apply_coords(coords, emb.original_size), dtype=torch.float)[None]
    lab = torch.as_tensor(labels_in, dtype=torch.int)[None]
    with torch.inference_mode():
        t_prompt = median_time(lambda: sam.prompt_encoder(points=(c, lab), boxes=None, masks=None), clicks)
        sparse, dense = sam.prompt_encoder(points=(c, lab), boxes=None, masks=None)
        t_pe = median_time(lambda: sam.prompt_encoder.get_dense_pe(), clicks)
        pe = sam.prompt_encoder.get_dense_pe()
        t_mask = median_time(lambda: sam.mask_decoder(image_embeddings=decoder.features, image_pe=pe,
                                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                                      multimask_output=True), clicks)
        low, _ = sam.mask_decoder(image_embeddings=decoder.features, image_pe=pe, sparse_prompt_embeddings=sparse,
                                  dense_prompt_embeddings=dense, multimask_output=True)
        t_up3 = median_time(lambda: sam.postprocess_masks(low, emb.input_size, emb.original_size), clicks)
        t_up1 = median_time(lambda: sam.postprocess_masks(low[:, :1], emb.input_size, emb.original_size), clicks)
        logits = sam.postprocess_masks(low[:, :1], emb.input_size, emb.original_size)[0, 0].numpy()
    t_key = median_time(lambda: se.embedding_key(image, "vit_b", ckpt), clicks)
    t_load = median_time(lambda: se.load_embedding(cache, key), clicks)

    def paint_once():
        label = np.zeros((h, w), np.uint8)
        paint(label, np.full((h, w), -np.inf, np.float32), 1, logits, 0.0)

    t_paint = median_time(paint_once, clicks)
    t_overlay = median_time(lambda: overlay_labels(image, labels), clicks)

    ms = lambda s: f"{s * 1000:8.1f} ms"  # noqa: E731
    print(f"\nthe click path without Qt, frame {w}x{h} (medians over {clicks})")
    print(f"  frame's cache key (hash of its pixels)  {ms(t_key)}")
    print(f"  embedding read from the content cache   {ms(t_load)}")
    print(f"  prompt encoder (2 clicks)               {ms(t_prompt)}")
    print(f"  dense positional encoding (now once)    {ms(t_pe)}")
    print(f"  mask decoder                            {ms(t_mask)}")
    print(f"  scale up to the frame: 3 candidates     {ms(t_up3)}")
    print(f"  scale up to the frame: the chosen one   {ms(t_up1)}")
    print(f"  paint the label map                     {ms(t_paint)}")
    print(f"  overlay drawn over the frame            {ms(t_overlay)}")
    print(f"  decoder alone, 1 click (3 candidates):  SamPredictor {ms(dec_before_1)}, now {ms(dec_now_1)}")
    print(f"  decoder alone, 2 clicks (1 candidate):  SamPredictor {ms(dec_before_2)}, now {ms(dec_now_2)}")
    print(f"  first click on a frame (encoder, store, decode, overlay)  {cold:7.2f} s")
    print(f"  a later click (cache read, decode, overlay)               {ms(later)}")
    print(f"  first click / later click: {cold / later:.0f}x")


def editor(ckpt: Path, tmp: Path, image: np.ndarray, clicks: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_API", "pyside6")
    import cv2

    from inpainterz.editor import qt

    missing = qt.missing_requirement()
    if missing:
        print(f"\nno editor figures: {missing}")
        return
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest

    from inpainterz.editor.app import settle
    from inpainterz.editor.window import EditorWindow
    from inpainterz.engine.cache import Cache
    from inpainterz.engine.registry import default_registry

    h, w = image.shape[:2]
    shot = tmp / "shot"
    shot.mkdir()
    for t in range(3):
        cv2.imwrite(str(shot / f"{t:04d}.png"), image[:, :, ::-1])
    graph = {"format": "inpainterz-graph", "version": 1, "nodes": {
        "read": {"type": "ReadImages", "params": {"path": str(shot)}},
        "clicks": {"type": "PointPrompt", "params": {"frame": 0, "points": [], "object_ids": []}},
        "segment": {"type": "SegmentSAM", "inputs": {"frames": "read.frames", "points": "clicks.points"},
                    "params": {"checkpoint": str(ckpt)}}}}
    path = tmp / "click.json"
    path.write_text(json.dumps(graph, indent=2))
    app = qt.application()
    win = EditorWindow(default_registry(), cache=Cache(tmp / "editor-cache"), ask_before_closing=False)
    win.open_graph(path)
    win.resize(1400, 900)
    win.show()
    settle(app)
    win._view_node(win.doc.node("segment"))
    canvas, ctl = win.viewer.canvas, win.prompting

    def wait(cond, timeout=600.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            app.processEvents()
            if cond():
                return True
            time.sleep(0.001)
        raise SystemExit("the editor did not answer in time")

    wait(lambda: canvas.image is not None)
    rng = np.random.default_rng(1)

    def click() -> float:
        x, y = rng.integers(w // 4, 3 * w // 4), rng.integers(h // 4, 3 * h // 4)
        pos = QPoint(round(canvas.offset.x() + (x + 0.5) * canvas.scale), round(canvas.offset.y() + (y + 0.5) * canvas.scale))
        decoded = ctl.worker.decoder_calls if ctl.worker else 0
        t0 = time.perf_counter()
        QTest.mouseClick(canvas, Qt.LeftButton, Qt.NoModifier if rng.random() < 0.7 else Qt.ShiftModifier, pos)
        wait(lambda: ctl.worker is not None and ctl.worker.idle() and ctl.worker.decoder_calls > decoded
             and 0 in ctl.previews)
        app.processEvents()  # the mask drawn
        return time.perf_counter() - t0

    first = click()
    later = statistics.median(click() for _ in range(clicks))
    assert ctl.worker.encoder_calls == 1
    win.close()
    print(f"\nthe editor (offscreen Qt), frame {w}x{h}: a click on the viewer until SAM's mask is on screen")
    print(f"  first click on the frame: {first:7.2f} s; later clicks: median {later * 1000:.1f} ms over {clicks}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", help="scale the frame to WxH, e.g. 1920x1080")
    ap.add_argument("--editor", action="store_true", help="also click through the real editor (offscreen Qt)")
    args = ap.parse_args()

    import torch
    from segment_anything import sam_model_registry

    from inpainterz.engine.cache import Cache

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sam = sam_model_registry["vit_b"]().eval()
    image = frame(args.size)
    print(f"torch threads {args.threads}, SAM vit_b (random weights)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "sam_vit_b_01ec64.pth"
        torch.save(sam.state_dict(), ckpt)
        stages(sam, image, ckpt, Cache(tmp / "cache"), args.clicks)
        if args.editor:
            editor(ckpt, tmp, image, args.clicks)


if __name__ == "__main__":
    main()
