"""Detection metrics with Ultralytics val semantics (numpy only).

- a prediction is correct at IoU threshold t (0.50, 0.55 ... 0.95) when it is
  matched to a ground-truth box of its class: all (gt, prediction) pairs with
  IoU >= t, sorted by IoU (highest first), keep the first pair of every
  prediction, then (in prediction order) the first pair of every gt;
- per class (the classes that have labels): predictions sorted by confidence,
  cumulative precision and recall, precision made monotone (its running
  maximum from the right) with the sentinels (recall 0, precision 1) and
  (recall 1, precision 0), interpolated at 101 recall points 0, 0.01 ... 1 and
  integrated with the trapezoid rule. The sentinel makes a perfect detector
  score 0.995, not 1, exactly as Ultralytics reports;
- mAP50 is the mean over classes at t = 0.5, mAP50-95 the mean over classes
  and the ten thresholds; P and R are taken at the confidence that maximises the
  class-mean F1 (smoothed over a 0.1 window of the 1000-point confidence grid).
"""

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def box_iou(a, b, eps=1e-7):
    """IoU matrix [len(a), len(b)] of xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clip(0).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + eps)


def match_predictions(pred_cls, gt_cls, iou, thresholds=IOU_THRESHOLDS):
    """Correctness [n_pred, n_thresholds] (bool); iou is [n_gt, n_pred]."""
    correct = np.zeros((len(pred_cls), len(thresholds)), bool)
    iou = iou * (gt_cls[:, None] == pred_cls[None, :])
    for ti, t in enumerate(thresholds):
        matches = np.stack(np.nonzero(iou >= t), 1)  # (gt, pred)
        if len(matches) > 1:
            matches = matches[iou[matches[:, 0], matches[:, 1]].argsort()[::-1]]
            matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
            matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
        if len(matches):
            correct[matches[:, 1], ti] = True
    return correct


def compute_ap(recall, precision):
    """101-point interpolated AP (trapezoid rule) of one precision/recall curve."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    y = np.interp(x, mrec, mpre)
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))


def smooth(y, f=0.05):
    """Box filter of fraction f (window 2 * f of the points), edges padded."""
    nf = round(len(y) * f * 2) // 2 + 1
    p = np.ones(nf // 2)
    yp = np.concatenate((p * y[0], y, p * y[-1]))
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def ap_per_class(tp, conf, pred_cls, target_cls, eps=1e-16):
    """tp [n, T] bool, conf [n], pred_cls [n], target_cls [m] ->
    dict(classes [k], ap [k, T], p [k], r [k], f1 [k]) over the k labelled classes."""
    order = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
    classes, counts = np.unique(target_cls, return_counts=True)
    k, nt = len(classes), tp.shape[1]
    x = np.linspace(0, 1, 1000)
    ap = np.zeros((k, nt))
    p_curve, r_curve = np.zeros((k, 1000)), np.zeros((k, 1000))
    for ci, c in enumerate(classes):
        i = pred_cls == c
        n_l, n_p = counts[ci], int(i.sum())
        if n_p == 0 or n_l == 0:
            continue
        tpc = tp[i].cumsum(0)
        fpc = (1 - tp[i]).cumsum(0)
        recall = tpc / (n_l + eps)
        precision = tpc / (tpc + fpc)
        r_curve[ci] = np.interp(-x, -conf[i], recall[:, 0], left=0)
        p_curve[ci] = np.interp(-x, -conf[i], precision[:, 0], left=1)
        for j in range(nt):
            ap[ci, j] = compute_ap(recall[:, j], precision[:, j])
    f1 = 2 * p_curve * r_curve / (p_curve + r_curve + eps)
    best = int(smooth(f1.mean(0), 0.1).argmax()) if k else 0
    return {"classes": classes, "ap": ap, "p": p_curve[:, best], "r": r_curve[:, best],
            "f1": f1[:, best], "counts": counts}


class DetectionMetrics:
    """Accumulates per-image matches, then summarises.

        m = DetectionMetrics(names)
        m.add(pred_boxes, pred_conf, pred_cls, gt_boxes, gt_cls)   # per image, xyxy
        m.summary()  # {"P", "R", "mAP50", "mAP50-95", "per_class": {...}}
    """

    def __init__(self, names):
        self.names = list(names)
        self.tp, self.conf, self.pred_cls, self.target_cls = [], [], [], []

    def add(self, pred_boxes, pred_conf, pred_cls, gt_boxes, gt_cls):
        pred_cls = np.asarray(pred_cls).astype(np.int64)
        gt_cls = np.asarray(gt_cls).astype(np.int64)
        self.target_cls.append(gt_cls)
        if len(pred_cls) == 0:
            return
        if len(gt_cls):
            correct = match_predictions(pred_cls, gt_cls, box_iou(gt_boxes, pred_boxes))
        else:
            correct = np.zeros((len(pred_cls), len(IOU_THRESHOLDS)), bool)
        self.tp.append(correct)
        self.conf.append(np.asarray(pred_conf, np.float64))
        self.pred_cls.append(pred_cls)

    def summary(self):
        nt = len(IOU_THRESHOLDS)
        tp = np.concatenate(self.tp) if self.tp else np.zeros((0, nt), bool)
        conf = np.concatenate(self.conf) if self.conf else np.zeros(0)
        pred_cls = np.concatenate(self.pred_cls) if self.pred_cls else np.zeros(0, np.int64)
        target_cls = np.concatenate(self.target_cls) if self.target_cls else np.zeros(0, np.int64)
        res = ap_per_class(tp.astype(np.float64), conf, pred_cls, target_cls)
        ap = res["ap"]
        per_class = {}
        for ci, c in enumerate(res["classes"]):
            name = self.names[c] if c < len(self.names) else str(c)
            per_class[name] = {"instances": int(res["counts"][ci]), "P": float(res["p"][ci]),
                               "R": float(res["r"][ci]), "mAP50": float(ap[ci, 0]),
                               "mAP50-95": float(ap[ci].mean())}
        k = len(res["classes"])
        return {
            "P": float(res["p"].mean()) if k else 0.0,
            "R": float(res["r"].mean()) if k else 0.0,
            "mAP50": float(ap[:, 0].mean()) if k else 0.0,
            "mAP50-95": float(ap.mean()) if k else 0.0,
            "instances": int(len(target_cls)),
            "per_class": per_class,
        }


def fitness(m):
    """Ultralytics' model fitness: 0.1 mAP50 + 0.9 mAP50-95."""
    return 0.1 * m["mAP50"] + 0.9 * m["mAP50-95"]
