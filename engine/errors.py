"""Errors a user can act on.

Each error knows where it happened (node id, param or port, file) so the CLI
can print one line per problem and pick the exit code without a traceback.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph or its params: printed as one line."""

    message: str
    node: str | None = None
    type: str | None = None
    where: str | None = None  # "param 'radius'", "input 'masks'", a file path

    def __str__(self) -> str:
        parts = []
        if self.node is not None:
            parts.append(f"node '{self.node}'" + (f" ({self.type})" if self.type else ""))
        if self.where:
            parts.append(self.where)
        parts.append(self.message)
        return ": ".join(parts)


class InpainterzError(Exception):
    """Base class of every error the engine reports to a user."""


class GraphError(InpainterzError):
    """A graph, its params or a --set value is wrong. Carries every problem found."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        prefix = f"{self.source}: " if self.source else ""
        return [prefix + str(p) for p in self.problems]


class BadInput(InpainterzError):
    """Raised by a node for a bad input file, param value or mismatched data.

    The CLI exits 2 for it, like a bad graph: the user has to fix an input,
    not the software.
    """


class NodeFailed(InpainterzError):
    """A node raised while rendering. Wraps the original exception."""

    def __init__(self, node: str, type_id: str, cause: BaseException, tb: str = ""):
        self.node, self.type_id, self.cause, self.tb = node, type_id, cause, tb
        reason = str(cause) or type(cause).__name__
        if not isinstance(cause, InpainterzError):
            reason = f"{type(cause).__name__}: {reason}"
        super().__init__(f"node '{node}' ({type_id}) failed: {reason}")


class Cancelled(InpainterzError):
    """The user stopped the run (Ctrl-C or Cancel in the editor)."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)


def is_disk_full(exc: BaseException) -> bool:
    """An error that means the disk (or the user's quota on it) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
