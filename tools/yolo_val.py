"""Validation of a detector on a letterboxed ImageCache, Ultralytics style.

Postprocessing as Ultralytics' val: candidates with a class score above conf
(0.001), multi-label (one candidate per class above conf), at most 30000 by
score, class-aware NMS at IoU 0.7 (boxes offset by class * 7680), at most 300
detections per image; boxes mapped back to the original image (remove the
letterbox padding and scale, clip to the image). Metrics: yolo_metrics.
"""

import time

import numpy as np
import torch

from yolo_metrics import DetectionMetrics

MAX_WH = 7680  # class offset for class-aware NMS
MAX_NMS = 30000

try:
    from torchvision.ops import batched_nms as _tv_batched_nms
except ImportError:  # torchvision is optional
    _tv_batched_nms = None


def box_iou_t(a, b):
    """IoU matrix of xyxy boxes (torch)."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes, scores, iou_thres, max_keep=None, block=1024):
    """Greedy NMS (exact): indices of the kept boxes, best first.

    Boxes are visited in score order in blocks; a box dies when a kept box
    overlaps it by more than iou_thres. Inside a block the greedy decisions are
    the unique fixed point of keep[i] = alive[i] and no earlier kept box j in the
    block overlaps i, found by iterating from keep = alive (each round settles
    at least the next undecided box, and usually a handful of rounds suffice).
    Stops once max_keep boxes are kept."""
    order = scores.argsort(descending=True)
    boxes = boxes[order]
    kept = []
    kept_boxes = boxes[:0]
    n = boxes.shape[0]
    for start in range(0, n, block):
        b = boxes[start:start + block]
        alive = torch.ones(b.shape[0], dtype=torch.bool, device=b.device)
        if kept_boxes.shape[0]:
            alive &= ~(box_iou_t(kept_boxes, b) > iou_thres).any(0)
        over = torch.triu(box_iou_t(b, b) > iou_thres, diagonal=1)  # over[j, i]: j before i
        keep = alive
        while True:
            new = alive & ~(over & keep[:, None]).any(0)
            if torch.equal(new, keep):
                break
            keep = new
        idx = keep.nonzero().squeeze(1)
        kept.append(idx + start)
        kept_boxes = torch.cat((kept_boxes, b[idx]))
        if max_keep is not None and kept_boxes.shape[0] >= max_keep:
            break
    kept = torch.cat(kept) if kept else order[:0]
    if max_keep is not None:
        kept = kept[:max_keep]
    return order[kept]


def batched_nms(boxes, scores, classes, iou_thres, max_keep=None):
    """Class-aware NMS: torchvision's when installed, else nms() on offset boxes."""
    if _tv_batched_nms is not None:
        keep = _tv_batched_nms(boxes, scores, classes, iou_thres)
        return keep[:max_keep] if max_keep is not None else keep
    return nms(boxes + classes[:, None].to(boxes.dtype) * MAX_WH, scores, iou_thres, max_keep)


def postprocess(pred, conf_thres=0.001, iou_thres=0.7, max_det=300):
    """Model output [B, 4 + nc, N] (cx, cy, w, h px, then class scores) ->
    per image a [n, 6] tensor (x1, y1, x2, y2, conf, class), best first."""
    out = []
    for p in pred.float().transpose(1, 2):  # [N, 4 + nc]
        box = torch.cat((p[:, :2] - p[:, 2:4] / 2, p[:, :2] + p[:, 2:4] / 2), 1)
        i, j = (p[:, 4:] > conf_thres).nonzero(as_tuple=True)  # multi-label
        conf = p[i, 4 + j]
        if conf.shape[0] > MAX_NMS:
            top = conf.topk(MAX_NMS).indices
            i, j, conf = i[top], j[top], conf[top]
        keep = batched_nms(box[i], conf, j, iou_thres, max_det)
        out.append(torch.cat((box[i[keep]], conf[keep, None], j[keep, None].float()), 1))
    return out


def to_original(det, rect, shape):
    """Boxes in letterboxed pixels -> the original image, clipped."""
    x0, y0, w, h = rect
    gain = w / shape[1]
    b = (det[:, :4] - np.array([x0, y0, x0, y0])) / gain
    b[:, 0::2] = b[:, 0::2].clip(0, shape[1])
    b[:, 1::2] = b[:, 1::2].clip(0, shape[0])
    return b


@torch.no_grad()
def validate(model, cache, device, batch=32, conf_thres=0.001, iou_thres=0.7, max_det=300):
    """mAP of model (put in eval mode here) on the cache; returns the summary dict
    of DetectionMetrics plus 'seconds'."""
    t0 = time.time()
    was_training = model.training
    model.eval()
    metrics = DetectionMetrics(cache.names)
    for start in range(0, len(cache), batch):
        end = min(start + batch, len(cache))
        dets = postprocess(model(cache.batch(start, end, device)), conf_thres, iou_thres, max_det)
        for k, det in enumerate(dets):
            i = start + k
            det = det.cpu().double().numpy()
            h, w = cache.shapes[i]
            lab = cache.labels[i].astype(np.float64)
            gt = np.stack(((lab[:, 1] - lab[:, 3] / 2) * w, (lab[:, 2] - lab[:, 4] / 2) * h,
                           (lab[:, 1] + lab[:, 3] / 2) * w, (lab[:, 2] + lab[:, 4] / 2) * h), 1)
            metrics.add(to_original(det, cache.rects[i], (h, w)), det[:, 4], det[:, 5], gt, lab[:, 0])
    model.train(was_training)
    res = metrics.summary()
    res["seconds"] = time.time() - t0
    return res
