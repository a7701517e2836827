"""Training checkpoints: OUT/last.pt, or a portable form for the GPU machine's file limits.

Full (default): one file, everything in full precision; a resume continues
bit for bit (on the same hardware).

Portable (--portable-ckpt): small enough to travel with the device tool
(files back at most 16 MiB each, the working tree at most 64 MiB): the EMA
is stored as its fp16 difference from the model, the optimiser moments and
any pending gradients in bf16, and the bytes are split into
OUT/last.pt.part0, .part1 ... of at most 15 MiB. About 10 bytes per
parameter with AdamW (YOLO12n: ~25 MB in 2 parts) instead of 16. A resume
from it differs from an uninterrupted run by that rounding only.
"""

import glob
import io
import os

import torch

NAME = "last.pt"
PART_BYTES = 15 << 20


def _float_keys(sd):
    return [k for k, v in sd.items() if torch.is_tensor(v) and v.dtype.is_floating_point]


def compact(state):
    state = dict(state)
    model = state["model"]
    delta = {}
    for k, v in state["ema"].items():
        if k in _float_keys(state["ema"]):
            d = (v.float() - model[k].float()).half()
            delta[k] = d if torch.isfinite(d).all() else v  # out of fp16 range: keep as is
        else:
            delta[k] = v
    state["ema"], state["ema_is_delta"] = delta, True
    opt = dict(state["optimizer"])
    opt["state"] = {i: {k: (v.bfloat16() if torch.is_tensor(v) and v.dtype.is_floating_point and k != "step"
                            else v) for k, v in s.items()} for i, s in opt["state"].items()}
    state["optimizer"] = opt
    state["grads"] = {k: g.bfloat16() for k, g in state["grads"].items()}
    return state


def expand(state):
    """Undo compact(); optimizer.load_state_dict casts the moments back itself."""
    if state.get("ema_is_delta"):
        model = state["model"]
        state["ema"] = {k: (model[k] + v.to(model[k].dtype) if v.dtype == torch.float16 else v)
                        for k, v in state["ema"].items()}
        state["ema_is_delta"] = False
    state["grads"] = {k: g.float() for k, g in state["grads"].items()}
    return state


def _parts(out):
    return sorted(glob.glob(os.path.join(out, NAME + ".part*")), key=lambda p: int(p.rsplit("part", 1)[1]))


def exists(out):
    return os.path.exists(os.path.join(out, NAME)) or bool(_parts(out))


def save(state, out, portable=False):
    """Write the checkpoint atomically (per file); returns (paths, total bytes)."""
    if portable:
        state = compact(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    whole = os.path.join(out, NAME)
    old_parts = _parts(out)
    if not portable:
        paths = [whole]
        chunks = [data]
    else:
        chunks = [data[i:i + PART_BYTES] for i in range(0, len(data), PART_BYTES)]
        paths = [f"{whole}.part{i}" for i in range(len(chunks))]
    for p, c in zip(paths, chunks):
        with open(p + ".tmp", "wb") as f:
            f.write(c)
    for p in paths:
        os.replace(p + ".tmp", p)
    for p in old_parts + ([whole] if portable and os.path.exists(whole) else []):
        if p not in paths:
            os.remove(p)
    return paths, len(data)


def load(out):
    """The checkpoint in OUT (either form), expanded; None when there is none."""
    whole = os.path.join(out, NAME)
    if os.path.exists(whole):
        with open(whole, "rb") as f:
            data = f.read()
    elif _parts(out):
        parts = _parts(out)
        if [int(p.rsplit("part", 1)[1]) for p in parts] != list(range(len(parts))):
            raise FileNotFoundError(f"{out}: checkpoint parts missing: {parts}")
        chunks = []
        for p in parts:
            with open(p, "rb") as f:
                chunks.append(f.read())
        data = b"".join(chunks)
    else:
        return None
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except TypeError:  # torch without weights_only
        state = torch.load(io.BytesIO(data), map_location="cpu")
    return expand(state)
