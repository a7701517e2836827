#!/usr/bin/env python3
"""Reference implementation of Ultralytics `yolo val` detection metrics (numpy only).

An oracle for qbench's C evaluation: it reads the detections that
`qbench eval ... --save-detections FILE.json` writes, finds the YOLO labels
itself, scores them the way Ultralytics' validator does and prints the metrics
table; with --compare it checks qbench's `eval --json` output number by number.

    python3 tools/eval_ref.py DUMP.json [--compare QBENCH_EVAL.json] [--tol 1e-4] [--json OUT]

Exit status: 0 ok (and, with --compare, everything agrees within --tol),
1 some number differs, 2 bad usage or input.

Semantics (see the report that came with this file for the choices made):
- IoU in float32: inter / ((area1 + area2 - inter) + 1e-7f), labels x detections;
- thresholds 0.50:0.05:0.95 as float32, compared in float32 (iou >= t);
- matching per threshold as Ultralytics' match_predictions: same-class pairs
  with IoU >= t, sorted by IoU descending, first pair of every detection kept,
  then (in detection-index order) the first pair of every label;
- detections sorted by -conf with a STABLE sort (Ultralytics uses the default,
  unstable np.argsort), in dump order (image order, then order within an image);
- per class present in the labels: cumulative TP/FP, P/R curves on a
  1000-point confidence grid, 101-point interpolated AP integrated with the
  trapezoid rule, P and R at the argmax of the smoothed class-mean F1.
"""

import argparse
import json
import math
import os
import sys


def _import_numpy():
    """numpy, re-running this script under Debian's python3 when the current one lacks it."""
    try:
        import numpy
        return numpy
    except ImportError:
        pass
    alt = "/usr/bin/python3"
    script = sys.argv[0] if sys.argv else ""
    if (os.environ.get("EVAL_REF_REEXEC") != "1" and os.access(alt, os.X_OK)
            and os.path.realpath(sys.executable) != os.path.realpath(alt)
            and script and os.path.isfile(script)):
        os.environ["EVAL_REF_REEXEC"] = "1"
        os.execv(alt, [alt] + sys.argv)
    sys.stderr.write("eval_ref: needs numpy (Debian: apt-get install python3-numpy)\n")
    sys.exit(2)


np = _import_numpy()

IOU_EPS = 1e-7
EPS = 1e-16
N_GRID = 1000


class InputError(Exception):
    """Bad input: exit status 2."""


class LabelError(Exception):
    """A label file Ultralytics would reject (the image is dropped from the set)."""


def iou_thresholds():
    """0.50, 0.55 ... 0.95 as float32 (equal to torch.linspace(0.5, 0.95, 10))."""
    return np.linspace(0.5, 0.95, 10).astype(np.float32)


def box_iou(labels, dets):
    """IoU matrix [len(labels), len(dets)] of xyxy boxes, in float32 as torch computes it."""
    a = np.asarray(labels, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(dets, dtype=np.float32).reshape(-1, 4)
    a1, a2 = a[:, None, :2], a[:, None, 2:]
    b1, b2 = b[None, :, :2], b[None, :, 2:]
    wh = (np.minimum(a2, b2) - np.maximum(a1, b1)).clip(0)
    inter = wh[..., 0] * wh[..., 1]
    da, db = a2 - a1, b2 - b1
    area_a = da[..., 0] * da[..., 1]
    area_b = db[..., 0] * db[..., 1]
    return inter / (area_a + area_b - inter + np.float32(IOU_EPS))


def match_predictions(pred_cls, true_cls, iou, iouv=None):
    """correct[n_det, n_thr]: Ultralytics' BaseValidator.match_predictions (no scipy).

    iou is [n_labels, n_det]. Pairs are ordered by IoU descending with a
    reversed stable sort (ties: the later pair in row-major (label, det) order
    comes first); np.unique keeps the first pair of each detection, then, with
    the pairs now in detection-index order, the first pair of each label.
    """
    iouv = iou_thresholds() if iouv is None else np.asarray(iouv, dtype=np.float32)
    pred_cls = np.asarray(pred_cls, dtype=np.float32).reshape(-1)
    true_cls = np.asarray(true_cls, dtype=np.float32).reshape(-1)
    correct = np.zeros((pred_cls.shape[0], iouv.shape[0]), dtype=bool)
    if pred_cls.shape[0] == 0 or true_cls.shape[0] == 0:
        return correct
    iou = np.asarray(iou, dtype=np.float32) * (true_cls[:, None] == pred_cls[None, :])
    for ti, thr in enumerate(iouv):
        matches = np.array(np.nonzero(iou >= thr)).T
        if matches.shape[0] == 0:
            continue
        if matches.shape[0] > 1:
            order = iou[matches[:, 0], matches[:, 1]].argsort(kind="stable")[::-1]
            matches = matches[order]
            matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
            matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
        correct[matches[:, 1], ti] = True
    return correct


def smooth(y, f=0.05):
    """Box filter of fraction f (odd width), edges padded with the end values."""
    nf = round(len(y) * f * 2) // 2 + 1
    p = np.ones(nf // 2)
    yp = np.concatenate((p * y[0], y, p * y[-1]), 0)
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def _trapezoid(y, x):
    fn = getattr(np, "trapezoid", None) or getattr(np, "trapz")
    return fn(y, x)


def compute_ap(recall, precision):
    """(ap, mpre, mrec): envelope, 101-point np.interp, trapezoid rule."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    ap = _trapezoid(np.interp(x, mrec, mpre), x)
    return float(ap), mpre, mrec


def ap_per_class(tp, conf, pred_cls, target_cls):
    """Per class present in target_cls: AP at every threshold, P and R at max mean F1.

    Returns a dict: classes (float32 ids), nt (instances), ap [nc, nthr],
    p, r (at the chosen grid index), f1_index, f1_smooth (the smoothed curve).
    """
    tp = np.asarray(tp, dtype=bool)
    conf = np.asarray(conf, dtype=np.float32)
    pred_cls = np.asarray(pred_cls, dtype=np.float32)
    target_cls = np.asarray(target_cls, dtype=np.float32)
    order = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]

    classes, nt = np.unique(target_cls, return_counts=True)
    nc = classes.shape[0]
    x = np.linspace(0, 1, N_GRID)
    ap = np.zeros((nc, tp.shape[1]))
    p_curve = np.zeros((nc, N_GRID))
    r_curve = np.zeros((nc, N_GRID))
    for ci, c in enumerate(classes):
        i = pred_cls == c
        n_l = nt[ci]
        if i.sum() == 0 or n_l == 0:
            continue
        tpi = tp[i].astype(np.int64)
        fpc = (1 - tpi).cumsum(0)
        tpc = tpi.cumsum(0)
        recall = tpc / (n_l + EPS)
        r_curve[ci] = np.interp(-x, -conf[i], recall[:, 0], left=0)
        precision = tpc / (tpc + fpc)
        p_curve[ci] = np.interp(-x, -conf[i], precision[:, 0], left=1)
        for j in range(tp.shape[1]):
            ap[ci, j] = compute_ap(recall[:, j], precision[:, j])[0]

    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + EPS)
    f1s = smooth(f1_curve.mean(0), 0.1) if nc else np.zeros(N_GRID)
    k = int(f1s.argmax())
    return {"classes": classes, "nt": nt, "ap": ap, "p": p_curve[:, k], "r": r_curve[:, k],
            "f1_index": k, "f1_smooth": f1s}


# ---------------------------------------------------------------- labels

def label_path(img_path):
    """Ultralytics img2label_paths: last /images/ -> /labels/, extension -> .txt."""
    sa, sb = os.sep + "images" + os.sep, os.sep + "labels" + os.sep
    return sb.join(img_path.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"


def _segments2boxes(segments):
    boxes = np.array([[s[:, 0].min(), s[:, 1].min(), s[:, 0].max(), s[:, 1].max()]
                      for s in segments], dtype=np.float32).reshape(-1, 4)
    y = np.empty_like(boxes)
    y[:, 0] = (boxes[:, 0] + boxes[:, 2]) / 2
    y[:, 1] = (boxes[:, 1] + boxes[:, 3]) / 2
    y[:, 2] = boxes[:, 2] - boxes[:, 0]
    y[:, 3] = boxes[:, 3] - boxes[:, 1]
    return y


def read_labels(path, nc):
    """(lb float32 [n, 5] rows class cx cy w h normalised, n_duplicates_removed).

    Ultralytics' verify_image_label: missing or empty file = no objects; when ANY
    row has more than 6 fields, EVERY row is read as a segment (class x1 y1 x2 y2
    ...) and boxed by min/max; duplicate rows are dropped (np.unique on rows,
    which also sorts the rows). Raises LabelError where Ultralytics would drop
    the image as corrupt.
    """
    if not os.path.isfile(path):
        return np.zeros((0, 5), dtype=np.float32), 0
    try:
        with open(path, encoding="utf-8") as f:
            rows = [x.split() for x in f.read().strip().splitlines() if len(x)]
        if any(len(x) > 6 for x in rows):
            classes = np.array([x[0] for x in rows], dtype=np.float32)
            segments = [np.array(x[1:], dtype=np.float32).reshape(-1, 2) for x in rows]
            lb = np.concatenate((classes.reshape(-1, 1), _segments2boxes(segments)), 1)
        else:
            lb = np.array(rows, dtype=np.float32)
    except (ValueError, IndexError, UnicodeDecodeError, OSError) as e:
        raise LabelError(f"{path}: {e}") from None
    nl = len(lb)
    if nl == 0:
        return np.zeros((0, 5), dtype=np.float32), 0
    if lb.ndim != 2 or lb.shape[1] != 5:
        raise LabelError(f"{path}: labels require 5 columns, {lb.shape[-1]} found")
    if not lb[:, 1:].max() <= 1:
        raise LabelError(f"{path}: non-normalized or out of bounds coordinates")
    if not lb.min() >= 0:
        raise LabelError(f"{path}: negative label values")
    if not lb[:, 0].max() < nc:
        raise LabelError(f"{path}: class {int(lb[:, 0].max())} exceeds dataset class count {nc}")
    if np.any(lb[:, 0] != np.floor(lb[:, 0])):
        raise InputError(f"{path}: non-integer class id")
    _, idx = np.unique(lb, axis=0, return_index=True)
    if len(idx) < nl:
        return lb[idx], nl - len(idx)
    return lb, 0


def labels_to_pixels(lb, width, height):
    """xywhn -> xyxy pixels in float32, clipped to the image (as scale_boxes clips)."""
    lb = np.asarray(lb, dtype=np.float32).reshape(-1, 5)
    cx, cy, w, h = lb[:, 1], lb[:, 2], lb[:, 3], lb[:, 4]
    W, H = np.float32(width), np.float32(height)
    two = np.float32(2)
    box = np.stack(((cx - w / two) * W, (cy - h / two) * H,
                    (cx + w / two) * W, (cy + h / two) * H), 1)
    box[:, 0::2] = box[:, 0::2].clip(np.float32(0), W)
    box[:, 1::2] = box[:, 1::2].clip(np.float32(0), H)
    return lb[:, 0].copy(), box


# ---------------------------------------------------------------- evaluation

def evaluate(records, names=None):
    """Metrics over records: each a dict with dets float [n, 6] (x1 y1 x2 y2 conf cls)
    in detection-index order, lcls [l] and lboxes [l, 4] (xyxy pixels)."""
    iouv = iou_thresholds()
    tps, confs, pcls, tcls, timg = [], [], [], [], []
    for rec in records:
        d = np.asarray(rec["dets"], dtype=np.float32).reshape(-1, 6)
        lc = np.asarray(rec["lcls"], dtype=np.float32).reshape(-1)
        lbx = np.asarray(rec["lboxes"], dtype=np.float32).reshape(-1, 4)
        tcls.append(lc)
        timg.append(np.unique(lc))
        if len(d) == 0:
            continue
        iou = box_iou(lbx, d[:, :4])
        tps.append(match_predictions(d[:, 5], lc, iou, iouv))
        confs.append(d[:, 4])
        pcls.append(d[:, 5])

    tp = np.concatenate(tps, 0) if tps else np.zeros((0, len(iouv)), dtype=bool)
    conf = np.concatenate(confs) if confs else np.zeros(0, dtype=np.float32)
    pred_cls = np.concatenate(pcls) if pcls else np.zeros(0, dtype=np.float32)
    target_cls = np.concatenate(tcls) if tcls else np.zeros(0, dtype=np.float32)
    target_img = np.concatenate(timg) if timg else np.zeros(0, dtype=np.float32)
    present = np.unique(target_cls).astype(int)
    nt_class = np.bincount(target_cls.astype(int), minlength=1)
    nt_image = np.bincount(target_img.astype(int), minlength=1)

    res = {"images": len(records), "instances": int(len(target_cls)), "precision": 0.0,
           "recall": 0.0, "map50": 0.0, "map50_95": 0.0, "f1_index": None, "f1_top2": None,
           "computed": False}
    per = {int(c): {"p": 0.0, "r": 0.0, "ap": np.zeros(len(iouv))} for c in present}
    # Ultralytics computes metrics only when some detection is a TP at some threshold.
    if tp.any():
        m = ap_per_class(tp, conf, pred_cls, target_cls)
        for ci, c in enumerate(m["classes"].astype(int)):
            per[int(c)] = {"p": float(m["p"][ci]), "r": float(m["r"][ci]), "ap": m["ap"][ci]}
        res.update(precision=float(m["p"].mean()), recall=float(m["r"].mean()),
                   map50=float(m["ap"][:, 0].mean()), map50_95=float(m["ap"].mean()),
                   f1_index=m["f1_index"], computed=True)
        f1s = m["f1_smooth"]
        rest = np.delete(f1s, m["f1_index"])
        j = int(rest.argmax())
        res["f1_top2"] = (float(f1s[m["f1_index"]]), float(rest[j]), j + (j >= m["f1_index"]))
    res["classes"] = []
    for c in present:
        c = int(c)
        name = names[c] if names is not None and 0 <= c < len(names) else str(c)
        res["classes"].append({
            "name": name, "class": c, "images": int(nt_image[c]), "instances": int(nt_class[c]),
            "precision": per[c]["p"], "recall": per[c]["r"],
            "map50": float(per[c]["ap"][0]), "map50_95": float(np.mean(per[c]["ap"])),
            "ap": [float(v) for v in per[c]["ap"]]})
    return res


# ---------------------------------------------------------------- input/output

def _num(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(f"{what}: expected a finite number, got {v!r}")
    return float(v)


def load_dump(path):
    """(names, records, notes) from a --save-detections dump; labels read from disk."""
    try:
        with open(path, encoding="utf-8") as f:
            dump = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}") from None
    if not isinstance(dump, dict):
        raise InputError(f"{path}: top level is not an object")
    names = dump.get("names")
    if isinstance(names, dict):
        try:
            names = [names[k] for k in sorted(names, key=int)]
        except (ValueError, TypeError):
            raise InputError(f"{path}: names keys must be integers") from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: 'names' must be a non-empty list of strings")
    images = dump.get("images")
    if not isinstance(images, list):
        raise InputError(f"{path}: 'images' must be a list")
    skipped = dump.get("skipped", [])
    if not isinstance(skipped, list):
        raise InputError(f"{path}: 'skipped' must be a list")
    base = os.path.dirname(os.path.abspath(path))
    nc = len(names)
    records, notes = [], []
    if skipped:
        notes.append(f"{len(skipped)} image(s) skipped by qbench (not counted)")
    dup_total = 0
    for n, im in enumerate(images):
        where = f"{path}: images[{n}]"
        if not isinstance(im, dict):
            raise InputError(f"{where}: not an object")
        file = im.get("file")
        if not isinstance(file, str) or not file:
            raise InputError(f"{where}: 'file' must be a non-empty string")
        w, h = im.get("width"), im.get("height")
        if (isinstance(w, bool) or isinstance(h, bool) or not isinstance(w, int)
                or not isinstance(h, int) or w <= 0 or h <= 0):
            raise InputError(f"{where}: 'width'/'height' must be positive integers")
        dets = im.get("detections")
        if not isinstance(dets, list):
            raise InputError(f"{where}: 'detections' must be a list")
        arr = np.zeros((len(dets), 6), dtype=np.float32)
        for k, d in enumerate(dets):
            if not isinstance(d, list) or len(d) != 6:
                raise InputError(f"{where}.detections[{k}]: expected [x1, y1, x2, y2, conf, cls]")
            vals = [_num(v, f"{where}.detections[{k}]") for v in d]
            if vals[5] != int(vals[5]) or vals[5] < 0:
                raise InputError(f"{where}.detections[{k}]: class must be a non-negative integer")
            arr[k] = vals
        img = file if os.path.isabs(file) else os.path.join(base, file)
        img = os.path.normpath(img)
        lpath = label_path(img)
        try:
            lb, dups = read_labels(lpath, nc)
        except LabelError as e:
            notes.append(f"dropped (corrupt label, as Ultralytics would): {e}")
            continue
        dup_total += dups
        lcls, lboxes = labels_to_pixels(lb, w, h)
        records.append({"file": img, "dets": arr, "lcls": lcls, "lboxes": lboxes})
    if dup_total:
        notes.append(f"{dup_total} duplicate label row(s) removed")
    return names, records, notes


def format_table(res):
    head = "%22s%11s%11s%11s%11s%11s%11s" % (
        "Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)")
    row = "%22s%11i%11i%11.5f%11.5f%11.5f%11.5f"
    lines = [head, row % ("all", res["images"], res["instances"], res["precision"],
                          res["recall"], res["map50"], res["map50_95"])]
    for c in res["classes"]:
        lines.append(row % (c["name"][:22], c["images"], c["instances"], c["precision"],
                            c["recall"], c["map50"], c["map50_95"]))
    return "\n".join(lines)


def _find_metrics(obj):
    if isinstance(obj, dict) and "map50" in obj:
        return obj
    if isinstance(obj, dict):
        for v in obj.values():
            if isinstance(v, dict) and "map50" in v:
                return v
    return None


def compare(ref, other, tol):
    """[(what, ref, other, |diff|, ok)] for every number; counts must be equal."""
    out = []
    floats = ("precision", "recall", "map50", "map50_95")
    ints = ("images", "instances")

    def check(what, src, dst, key):
        a = src.get(key)
        b = dst.get(key) if isinstance(dst, dict) else None
        if isinstance(b, bool) or not isinstance(b, (int, float)):
            out.append((f"{what}.{key}", a, b, math.inf, False))
            return
        d = abs(float(a) - float(b))
        ok = d == 0 if key in ints else d <= tol
        out.append((f"{what}.{key}", a, b, d, ok))

    for k in floats + ints:
        check("all", ref, other, k)
    theirs = other.get("classes")
    if not isinstance(theirs, list):
        out.append(("classes", "list", theirs, math.inf, False))
        return out
    by_name = {}
    for c in theirs:
        if isinstance(c, dict) and isinstance(c.get("name"), str):
            by_name.setdefault(c["name"], []).append(c)
    for c in ref["classes"]:
        cand = by_name.get(c["name"])
        if not cand:
            out.append((f"class[{c['name']}]", "present", "missing", math.inf, False))
            continue
        mine = cand.pop(0)
        for k in floats + ints:
            check(f"class[{c['name']}]", c, mine, k)
    for name, rest in by_name.items():
        for c in rest:
            zero = all(isinstance(c.get(k), (int, float)) and c.get(k) == 0 for k in floats + ints)
            if not zero:
                out.append((f"class[{name}]", "absent (no labels)", "present", math.inf, False))
    return out


def _to_json(res):
    keys = ("precision", "recall", "map50", "map50_95", "images", "instances")
    out = {k: res[k] for k in keys}
    out["classes"] = [{k: c[k] for k in ("name", "class", "images", "instances", "precision",
                                         "recall", "map50", "map50_95", "ap")}
                      for c in res["classes"]]
    out["f1_index"] = res["f1_index"]
    out["tool"] = "eval_ref"
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Ultralytics val metrics from a qbench detections dump")
    ap.add_argument("dump", help="JSON written by qbench eval --save-detections")
    ap.add_argument("--compare", metavar="QBENCH_EVAL.json", help="qbench eval --json output")
    ap.add_argument("--tol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    ap.add_argument("--json", metavar="OUT", help="write these metrics as JSON")
    ap.add_argument("--quiet", action="store_true", help="no table")
    args = ap.parse_args(argv)
    try:
        names, records, notes = load_dump(args.dump)
        res = evaluate(records, names)
        other = None
        if args.compare:
            try:
                with open(args.compare, encoding="utf-8") as f:
                    other = _find_metrics(json.load(f))
            except (OSError, ValueError) as e:
                raise InputError(f"{args.compare}: {e}") from None
            if other is None:
                raise InputError(f"{args.compare}: no object with 'map50' found")
    except InputError as e:
        sys.stderr.write(f"eval_ref: {e}\n")
        return 2
    for n in notes:
        sys.stderr.write(f"eval_ref: {n}\n")
    if not args.quiet:
        print(format_table(res))
        if res["computed"]:
            top = res["f1_top2"]
            print(f"P, R taken at confidence-grid index {res['f1_index']}"
                  f" (conf {res['f1_index'] / (N_GRID - 1):.4f}): smoothed mean F1 {top[0]:.6f};"
                  f" runner-up index {top[2]}, {top[0] - top[1]:.3g} lower")
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(_to_json(res), f, indent=1)
                f.write("\n")
        except OSError as e:
            sys.stderr.write(f"eval_ref: {args.json}: {e}\n")
            return 2
    if other is None:
        return 0
    rows = compare(res, other, args.tol)
    bad = [r for r in rows if not r[4]]
    worst = max(rows, key=lambda r: r[3])
    print(f"compare: {len(rows)} numbers, {len(bad)} differ beyond tol {args.tol:g};"
          f" worst {worst[0]}: ref {worst[1]} qbench {worst[2]} (|diff| {worst[3]:.3g})")
    for r in sorted(bad, key=lambda r: -r[3])[:40]:
        print(f"  DIFF {r[0]}: ref {r[1]} qbench {r[2]} (|diff| {r[3]:.3g})")
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into head
        sys.stderr.close()
        sys.exit(0)
