"""Checkpoints, one module per job: the manifest, where files are looked for,
whether they check out, fetching them, and loading them safely.

    manifest  ckpt/weights.json entries and the one fetch hint built from them
    search    the checkpoint folders of a run and `find_checkpoint`
    verify    size and sha256 checks, remembered per folder
    download  fetching: resumable, verified downloads
    load      torch loading with weights_only, and checking a file fits its model

No torch at module level.
"""
from .download import WEIGHTS_URL_ENV, FetchError, Quiet, fetch, source_url
from .load import check_state_dict, describe_keys, load_into, load_state_dict, unwrap_state_dict
from .manifest import Checkpoint, fetch_hint, load_manifest, lookup, select
from .search import CKPT_ENV, fetch_dir, find_checkpoint, search_dirs, user_ckpt_dir
from .verify import Status, check_file, list_status, status, verify

__all__ = [
    "CKPT_ENV", "Checkpoint", "FetchError", "Quiet", "Status", "WEIGHTS_URL_ENV", "check_file", "check_state_dict",
    "describe_keys", "fetch", "fetch_dir", "fetch_hint", "find_checkpoint", "list_status", "load_into",
    "load_manifest", "load_state_dict", "lookup", "search_dirs", "select", "source_url", "status",
    "unwrap_state_dict", "user_ckpt_dir", "verify",
]
