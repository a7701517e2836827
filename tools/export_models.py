#!/usr/bin/env python3
"""Export qbench's random-weight YOLO test and benchmark models to ONNX.

    python3 tools/export_models.py --out DIR [--only NAME ...] [--no-verify]

Writes DIR/<name>.onnx for every model in MODELS (fixed seeds, so a rerun with
the same torch gives the same weights). The weights are random but numerically
like a trained detector's (see randomize): BatchNorm statistics are measured, so
folding BN changes every weight; FP32 rounding stays ~3e-7 relative to FP64 on
real photos; every layer reaches the output; the attention blocks are selective.
With onnxruntime installed it checks each file against the PyTorch model
(relative L2 of output0) and prints the op histogram.
"""

import argparse
import collections
import os
import sys
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yolo_arch  # noqa: E402

CONES = ["blue_cone", "yellow_cone", "orange_cone", "large_orange_cone"]
# tiny: n-scale depth (every block), 1/4 of the n-scale width, at most 48 channels: < 1.5 MB
TINY = {"width": 0.0625, "max_channels": 768}

# name -> (architecture, size overrides, classes, batch, image size, opset, seed, Constant nodes
# folded into initializers as an Ultralytics export (onnxslim) has them)
MODELS = {
    "yolov8n-tiny-b2-320": ("yolov8", TINY, CONES, 2, 320, 11, 8, True),
    "yolo11n-tiny-b2-320": ("yolo11", TINY, CONES, 2, 320, 13, 11, True),
    "yolo12n-tiny-b2-320": ("yolo12", TINY, CONES, 2, 320, 17, 12, True),
    # same weights, newest opset, raw exporter output (Constant nodes kept)
    "yolo12n-tiny-b2-320-op19": ("yolo12", TINY, CONES, 2, 320, 19, 12, False),
    # Ultralytics' dynamic=True export: symbolic batch/height/width, anchors in the graph
    "yolo11n-tiny-dyn": ("yolo11", TINY, CONES, 2, 320, 17, 11, True),
}


def synthetic_images(n, size, gen):
    """Smooth random colour fields with a little fine noise, in [0, 1]."""
    coarse = torch.rand(n, 3, size // 32, size // 32, generator=gen)
    x = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return (x + 0.15 * torch.rand(n, 3, size, size, generator=gen)).clamp(0, 1)


def varied_images(n, size, gen):
    """Calibration images of the kinds the tests feed: smooth fields, photo-like
    scenes (flat rectangles with hard edges over a gradient, some texture) and
    white noise, so that BatchNorm statistics fit all of them."""
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            x = synthetic_images(1, size, gen)[0]
        elif kind == 1:
            x = synthetic_images(1, size, gen)[0] * 0.6
            for _ in range(int(torch.randint(8, 40, (1,), generator=gen))):
                x0, y0 = (torch.randint(0, size, (2,), generator=gen)).tolist()
                w, h = (torch.randint(4, size // 2, (2,), generator=gen)).tolist()
                x[:, y0:y0 + h, x0:x0 + w] = torch.rand(3, 1, 1, generator=gen)
            amp = float(torch.rand(1, generator=gen)) * 0.2
            x = (x + amp * (torch.rand(3, size, size, generator=gen) - 0.5)).clamp(0, 1)
        else:
            x = torch.rand(3, size, size, generator=gen)
        out.append(x)
    return torch.stack(out)


@torch.no_grad()
def randomize(model, seed, size, batches=4, batch=6):
    """Random weights that behave like a trained detector numerically.

    BatchNorm: gamma in [0.5, 1], beta ~ N(1, 0.2), then running statistics
    measured on varied synthetic images (so folding BN changes every weight).
    The positive beta keeps most SiLU inputs in its near-linear range: a small
    relative perturbation anywhere reaches the output at about the same size
    (gain ~0.5 on boxes, ~2 on scores), and FP32 rounding stays ~3e-7 relative
    to an FP64 run on real photos and on white noise alike. Zero-mean betas give
    either chaotic nets (FP32 error 1e-5 to 1e-2 on real photos: useless for a
    1e-5 comparison) or dead ones (uniform attention, outputs that ignore the
    input: they hide bugs). The attention blocks stay selective (softmax
    entropy ~0.9 of uniform)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(0.5 + 0.5 * torch.rand(m.weight.shape, generator=gen))
            m.bias.copy_(1.0 + 0.2 * torch.randn(m.bias.shape, generator=gen))
    head = model.model[-1]
    for branch in list(head.cv2) + list(head.cv3):
        last = branch[-1]
        fan_in = last.weight[0].numel()
        last.weight.copy_(torch.randn(last.weight.shape, generator=gen) * 1.5 / fan_in ** 0.5)
    for branch in head.cv2:
        branch[-1].bias.copy_(0.5 * torch.randn(branch[-1].bias.shape, generator=gen))
    for branch in head.cv3:
        branch[-1].bias.copy_(-1.0 + torch.randn(branch[-1].bias.shape, generator=gen))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    for _ in range(batches):
        model(varied_images(batch, size, gen))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.03
    model.eval()
    return model


def build(name):
    arch, sizes, names, batch, size, opset, seed, _ = MODELS[name]
    torch.manual_seed(seed)
    model = yolo_arch.BUILDERS[arch](nc=len(names), scale="n", **sizes)
    randomize(model, seed, size)
    return model


def op_histogram(path):
    import onnx

    m = onnx.load(path)
    return collections.Counter(n.op_type for n in m.graph.node), m


def verify(model, path, batch, size, seed):
    """onnxruntime vs the unfused PyTorch model on a synthetic batch."""
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        print("  (onnxruntime not installed: not verified)")
        return True
    gen = torch.Generator().manual_seed(seed + 1)
    x = synthetic_images(batch, size, gen)
    with torch.no_grad():
        ref = model.eval()(x).numpy().astype(np.float64)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 4
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    got = sess.run(["output0"], {"images": x.numpy()})[0].astype(np.float64)
    nc = ref.shape[1] - 4
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    rel_box = np.linalg.norm(got[:, :4] - ref[:, :4]) / np.linalg.norm(ref[:, :4])
    rel_cls = np.linalg.norm(got[:, 4:] - ref[:, 4:]) / np.linalg.norm(ref[:, 4:])
    print(f"  output0 {list(got.shape)} torch vs onnxruntime: rel L2 {rel:.3e} "
          f"(boxes {rel_box:.3e}, scores {rel_cls:.3e}), max abs {np.abs(got - ref).max():.3e}")
    print(f"  boxes cx [{got[:, 0].min():.1f}, {got[:, 0].max():.1f}] "
          f"w [{got[:, 2].min():.1f}, {got[:, 2].max():.1f}]; scores mean {got[:, 4:].mean():.3f} "
          f"sd {got[:, 4:].std():.3f}, > 0.5: {(got[:, 4:] > 0.5).mean() * 100:.1f}%  ({nc} classes)")
    return rel < 1e-4


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="tests/data", help="output folder (default tests/data)")
    ap.add_argument("--only", nargs="*", help="export only names containing one of these")
    ap.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    ap.add_argument("--max-opset", type=int, default=99, help="skip models above this opset")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")  # tracer and deprecation chatter
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    print(f"torch {torch.__version__}")
    ok = True
    built = {}
    for name, (arch, sizes, names, batch, size, opset, seed, fold) in MODELS.items():
        if args.only and not any(s in name for s in args.only):
            continue
        if opset > args.max_opset:
            print(f"{name}: opset {opset} above --max-opset {args.max_opset}, skipped")
            continue
        t0 = time.time()
        key = (arch, str(sizes), len(names), size, seed)
        if key not in built:
            built[key] = build(name)
        model = built[key]
        path = os.path.join(args.out, name + ".onnx")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        desc = (f"qbench random-weight {arch}n-architecture detector"
                + (f", narrowed {sizes} (test model)" if sizes else " (benchmark model)")
                + "; not trained, for numerical tests only")
        exporter = None
        for dynamo in (False, True):  # the TorchScript exporter first, as Ultralytics
            try:
                exporter = yolo_arch.export_onnx(model, path, imgsz=(size, size), batch=batch,
                                                 opset=opset, names=names, description=desc,
                                                 fold_constants=fold, dynamo=dynamo,
                                                 dynamic=name.endswith("-dyn"))
                break
            except Exception as e:  # report, then try the other exporter
                print(f"{name}: export with dynamo={dynamo} failed: {type(e).__name__}: {e}")
        if exporter is None:
            ok = False
            continue
        hist, m = op_histogram(path)
        nparams = sum(p.numel() for p in model.parameters())
        print(f"{name}.onnx: {os.path.getsize(path) / 1e6:.2f} MB, {nparams} params (unfused), "
              f"opset {m.opset_import[0].version}, exporter {exporter}, {len(m.graph.node)} nodes, "
              f"{time.time() - t0:.1f} s")
        print("  ops: " + ", ".join(f"{k} {v}" for k, v in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))))
        print("  metadata: " + "; ".join(f"{p.key}={p.value[:60]}" for p in m.metadata_props))
        if not args.no_verify:
            ok &= verify(model, path, batch, size, seed)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
