"""Building a generator and loading a checkpoint into it, with errors a user can act on.

Reading the file (weights_only, safetensors, unwrapping) is the engine's
`load_state_dict`; this module only tells the two generators apart, so a
file of the other variant says which `model` to pick instead of failing
with a shape mismatch.
"""
from pathlib import Path

from ...engine import BadInput
from ...engine.checkpoints import describe_keys, fetch_hint, load_state_dict
from . import CHECKPOINT_FILES


def variant_of(keys):
    """"e2fgvi_hq", "e2fgvi" or None, from the keys only the generators have."""
    keys = set(keys)
    if "update_spynet.mean" not in keys:
        return None
    if "sc.bias_conv.weight" in keys:
        return "e2fgvi_hq"
    if "sc.bias" in keys:
        return "e2fgvi"
    return None


def read_state_dict(path, model, hint=None):
    """The tensors of ``path``, loaded safely on the CPU (BadInput when missing or unreadable).

    ``hint`` is the command that fetches the file (the run's, which knows its
    checkpoint folder); by default the manifest's.
    """
    path = Path(path)
    hint = hint or fetch_hint(model)
    if not path.is_file():
        raise BadInput(f"checkpoint file {path} does not exist; run `{hint}` to download {CHECKPOINT_FILES[model]}")
    return load_state_dict(path, f"E2FGVI ({model})", fetch_hint=hint)


def check_model(state_dict, model, path, hint=None):
    """Raise BadInput unless ``state_dict`` is for ``model``, saying what it is instead."""
    found = variant_of(state_dict)
    if found == model:
        return
    if found is not None:
        raise BadInput(f"{path} is an {found} checkpoint ({CHECKPOINT_FILES[found]}), but the model param is "
                       f"{model}: set model={found}, or use {CHECKPOINT_FILES[model]}")
    what = describe_keys(state_dict)
    seems = f"looks like {what}" if what else "does not look like an E2FGVI generator checkpoint"
    raise BadInput(f"{path} {seems}, not an {model} checkpoint; "
                   f"use {CHECKPOINT_FILES[model]} (`{hint or fetch_hint(model)}`)")


def build(model):
    """An untrained generator of the given kind (nothing is downloaded)."""
    from .generator import Generator

    return Generator(model)


def load(path, model, device="cpu", hint=None):
    """A generator with the weights of ``path``, in eval mode on ``device``."""
    hint = hint or fetch_hint(model)
    state = read_state_dict(path, model, hint)
    check_model(state, model, path, hint)
    net = build(model)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadInput(f"{path} has the layout of an {model} checkpoint but its weights do not fit "
                       f"({str(exc).splitlines()[0]}); download it again (`{hint}`)") from None
    return net.eval().to(device)
