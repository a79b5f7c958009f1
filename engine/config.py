"""The run configuration: every setting of one run, in one object passed explicitly.

The executor gets it, each node's Context carries it (`ctx.config`), and the
node hooks `preflight(params, config)` and `fingerprint(params, config)`
receive it, so no setting of a run lives in a process-wide global. The CLI
builds one from its options, the editor from its settings, and `Graph.run`
from keyword arguments.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import Cache

if TYPE_CHECKING:
    from .models import ModelManager


@dataclass(frozen=True)
class RunConfig:
    cache: Cache | None = None                  # None: the default cache folder, opened when the run starts
    device: str = "auto"                        # auto, cpu, cuda or cuda:N
    jobs: int = 1                               # independent nodes at once
    no_cache: bool = False                      # render every node, ignoring cached results
    ckpt_dirs: tuple[Path, ...] = ()            # searched first for checkpoints; the first is where fetch hints point
    models: ModelManager | None = None          # None: the process's manager, so models stay loaded between runs
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)

    def __post_init__(self):
        dirs = (self.ckpt_dirs,) if isinstance(self.ckpt_dirs, (str, Path)) else self.ckpt_dirs
        object.__setattr__(self, "ckpt_dirs", tuple(Path(d).expanduser().resolve() for d in dirs or ()))

    def with_(self, **changes) -> "RunConfig":
        """A copy with some settings changed."""
        return replace(self, **changes)

    def model_manager(self):
        if self.models is not None:
            return self.models
        from .models import get_manager

        return get_manager()

    # -- checkpoints, searched in this run's folders (imported on use: only model nodes need them)

    def checkpoint_dirs(self) -> list[Path]:
        from .checkpoints import search_dirs

        return search_dirs(self.ckpt_dirs)

    def find_checkpoint(self, name: str, param_value=None, param: str = "checkpoint") -> Path:
        """The path of a checkpoint (see `checkpoints.find_checkpoint`), searched in this run's folders."""
        from .checkpoints import find_checkpoint

        return find_checkpoint(name, param_value, param=param, ckpt_dirs=self.ckpt_dirs)

    def fetch_hint(self, name: str) -> str:
        """The command that fetches checkpoint `name` to where this run looks for it."""
        from .checkpoints import fetch_hint

        return fetch_hint(name, self.ckpt_dirs[0] if self.ckpt_dirs else None)
