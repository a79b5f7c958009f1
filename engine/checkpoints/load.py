"""Loading checkpoint tensors safely, and refusing a file that is not the model's.

torch.load runs with weights_only=True (safetensors files load with
safetensors), so a checkpoint never runs code. No torch at module level.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import BadInput

# Key patterns that identify well-known checkpoints, to name what a wrong file looks like.
SIGNATURES: list[tuple[str, tuple[str, ...]]] = [
    ("a SAM (segment-anything) checkpoint", ("image_encoder.", "prompt_encoder.", "mask_decoder.")),
    ("a GroundingDINO checkpoint", ("bert.", "transformer.", "backbone.")),
    ("a DeAOT/AOT tracker checkpoint", ("encoder.", "LSTT.", "decoder.")),
    ("an E2FGVI inpainting checkpoint", ("encoder.", "decoder.", "feat_prop_module.")),
    ("a BERT text encoder", ("embeddings.word_embeddings.", "encoder.layer.")),
]

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net", "params_ema", "params")


def describe_keys(keys: Iterable[str]) -> str | None:
    """What a set of state_dict keys looks like, from `SIGNATURES`, or None."""
    keys = list(keys)
    for label, prefixes in SIGNATURES:
        if all(any(k.startswith(p) for k in keys) for p in prefixes):
            return label
    return None


def _is_tensor_dict(value) -> bool:
    import torch

    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(v, torch.Tensor) for v in value.values())


def unwrap_state_dict(obj) -> dict:
    """The tensor dict inside a checkpoint: bare, or under "model", "state_dict", ..."""
    if _is_tensor_dict(obj):
        sd = dict(obj)
    else:
        sd = None
        if isinstance(obj, Mapping):
            for key in WRAPPER_KEYS:
                if key in obj and _is_tensor_dict(obj[key]):
                    sd = dict(obj[key])
                    break
        if sd is None:
            return {}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}  # saved from DataParallel
    return sd


def load_state_dict(path: Path | str, model_name: str, expected_keys=None,
                    min_overlap: float = 0.5, fetch_hint: str | None = None) -> dict:
    """Load a checkpoint's tensors safely and check it is the model it should be.

    torch.load runs with weights_only=True (safetensors files load with
    safetensors). The state dict is unwrapped from {"model": ...} or
    {"state_dict": ...}. With `expected_keys` (the model's own state_dict, or
    its keys) a file whose keys barely overlap, or whose shapes differ, is
    refused with a message saying what the file looks like instead.
    """
    import pickle

    import torch

    path = Path(path)
    again = f" Fetch it again with: {fetch_hint}" if fetch_hint else ""
    if not path.is_file():
        raise BadInput(f"checkpoint {path} does not exist.{again}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            raise BadInput(f"{path} (param 'checkpoint') holds Python objects besides tensors ({found.group(1)}), "
                           f"which are never loaded, for safety. It is not a {model_name} checkpoint as published."
                           f"{again}") from None
        # torch's own text advises loading with weights_only=False; that would run code from the file.
        detail = re.search(r"Unpickler error:\s*([^\n]+)", text)
        reason = detail.group(1).strip() if detail and "weights_only" not in detail.group(1) else "not a tensor file"
        raise BadInput(f"{path} (param 'checkpoint') is not a readable {model_name} checkpoint (corrupt or cut "
                       f"short?): {reason}.{again}") from None
    except Exception as exc:  # torch, zipfile and safetensors each fail their own way on a damaged file
        first = str(exc).splitlines()[0] if str(exc) else ""
        if "weights_only" in first:
            first = ""
        raise BadInput(f"{path} (param 'checkpoint') is not a readable {model_name} checkpoint (corrupt, cut "
                       f"short, or another kind of file?): {type(exc).__name__}"
                       f"{': ' + first if first else ''}.{again}") from None
    sd = unwrap_state_dict(obj)
    if not sd:
        top = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, Mapping) else type(obj).__name__
        raise BadInput(f"{path} holds no tensors where a {model_name} checkpoint keeps them (found: {top}).{again}")
    if expected_keys is not None:
        check_state_dict(sd, expected_keys, model_name, path, min_overlap)
    return sd


def _shape(value) -> tuple:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def check_state_dict(sd: Mapping, expected, model_name: str, path: Path | str, min_overlap: float = 0.5) -> None:
    """Refuse a state dict that is not for this model: key overlap and shapes."""
    want = list(expected.keys()) if isinstance(expected, Mapping) else list(expected)
    if not want:
        return
    got = set(sd)
    common = [k for k in want if k in got]
    looks = describe_keys(got)
    looks_text = f"; it looks like {looks}" if looks else ""
    if len(common) < min_overlap * len(want):
        raise BadInput(f"{path} is not a {model_name} checkpoint: only {len(common)} of the model's {len(want)} "
                       f"tensors are in it{looks_text}. Set the node's 'checkpoint' param to a {model_name} file.")
    if isinstance(expected, Mapping):
        bad = []
        for k in common:
            have, need = _shape(sd[k]), _shape(expected[k])
            if have != need:
                bad.append(f"{k} {list(have)} vs {list(need)}")
        if bad:
            raise BadInput(f"{path} does not fit the {model_name} model: {len(bad)} tensors have other shapes "
                           f"(e.g. {bad[0]}){looks_text}; it is probably another size of this model. Pick the "
                           f"model that matches the file, or the file that matches the model.")


def load_into(model, path: Path | str, model_name: str, strict: bool = True,
              fetch_hint: str | None = None, min_overlap: float = 0.5):
    """Load a checkpoint into `model` after checking it belongs to it.

    With strict=False, keys the model lacks (training-only extras) are ignored
    but every model tensor the file does hold must fit.
    """
    own = model.state_dict()
    sd = load_state_dict(path, model_name, expected_keys=own, min_overlap=min_overlap, fetch_hint=fetch_hint)
    if strict:
        missing = [k for k in own if k not in sd]
        if missing:
            raise BadInput(f"{path} lacks {len(missing)} of the {model_name} model's tensors "
                           f"(e.g. {missing[0]}); it is not a complete {model_name} checkpoint.")
        sd = {k: v for k, v in sd.items() if k in own}
    return model.load_state_dict(sd, strict=False)
