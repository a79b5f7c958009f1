"""The background flows between neighbouring frames, kept on disk between renders.

A pair's background flows and moving maps (window.FrameWindow) depend on its
two frames, their holes and the flow settings only. Kept under a key made of
those, a render after an edit (one mask file corrected) finds every pair the
edit did not touch and estimates flow again only for the pairs beside the
edited frames: the fill around the edit is all that is left to do.

Layout, in the folder a render is given (the node's cache entry):

    pair-<key>.npz      forward, backward: (H, W, 2) float16 background flows
                        ahead, behind: (H, W) moving maps packed to bits

A render that builds on an earlier one takes over the earlier folder's files
whose keys it still needs (hard links, so nothing is copied); files of pairs
an edit changed are left behind with the earlier entry.

Flows are kept at float16, 2 MB a frame at 640x360. So that a fill made from
kept flows has the bytes of one made from new ones, the fill always uses its
flows rounded to float16 (window.FrameWindow), whether kept or not: under
a hundredth of a pixel for motion below 32 pixels a frame.
"""

from pathlib import Path

import numpy as np

from inpainterz.engine.atomic import atomic_write
from inpainterz.engine.data import link_or_copy


class PairStore:
    """Pairs of frames index, index + 1 of one clip, by key (key_of(index) ->
    str, or None for a pair that cannot be named and is not kept)."""

    def __init__(self, folder, key_of, count, earlier=None):
        self.folder, self.key_of = Path(folder), key_of
        self.folder.mkdir(parents=True, exist_ok=True)
        if earlier is not None and Path(earlier).is_dir():
            self._adopt(Path(earlier), count)

    def _path(self, index):
        key = self.key_of(index)
        return None if key is None else self.folder / f"pair-{key}.npz"

    def _adopt(self, earlier, count):
        for index in range(count - 1):
            target = self._path(index)
            if target is None:
                continue
            source = earlier / target.name
            if source.is_file() and not target.exists():
                link_or_copy(source, target)

    def load(self, index):
        """(forward, backward, moving ahead, moving behind) or None when not kept."""
        path = self._path(index)
        if path is None:
            return None
        try:
            with np.load(path, allow_pickle=False) as kept:
                forward, backward = kept["forward"], kept["backward"]
                height, width = forward.shape[:2]
                ahead, behind = (np.unpackbits(kept[name], count=height * width).reshape(height, width).astype(bool)
                                 for name in ("ahead", "behind"))
        except (OSError, KeyError, ValueError):
            return None  # not kept, or unreadable: estimate it again
        return forward.astype(np.float32), backward.astype(np.float32), ahead, behind

    def save(self, index, forward, backward, ahead, behind):
        path = self._path(index)
        if path is None:
            return
        with atomic_write(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, forward=forward.astype(np.float16), backward=backward.astype(np.float16),
                     ahead=np.packbits(ahead), behind=np.packbits(behind))
