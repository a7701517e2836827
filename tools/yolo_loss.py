"""The YOLOv8 detection loss (also used by YOLO11 and YOLO12), for yolo_arch models.

Written for qbench from the published description of the Ultralytics v8 loss:

- every grid cell of the three levels is an anchor point (its centre, in pixels);
- a task-aligned assigner picks, per ground-truth box, the top-k anchors (k 10)
  whose centre lies inside the box, ranked by the alignment metric
  s^alpha * IoU^beta (alpha 0.5, beta 6; s: the predicted score of the box's
  class, IoU: CIoU of the predicted box with the gt, clamped at 0); an anchor
  claimed by several boxes keeps the one it overlaps most;
- classification: BCE with logits against soft targets, the alignment metric
  normalised per box so that its best anchor gets that box's best IoU;
- box: 1 - CIoU, and DFL (distribution focal loss) on the 4 * reg_max bin
  logits of the (left, top, right, bottom) distances, both weighted by the
  anchor's target score;
- all three are divided by the sum of the target scores, then scaled by the
  gains box 7.5, cls 0.5, dfl 1.5; the total is multiplied by the batch size.

    crit = DetectionLoss(model)
    loss, items = crit(model(imgs), targets)   # targets [M, 6]: image, class, cx, cy, w, h (0..1)
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from yolo_arch import dist2bbox, make_anchors

# --------------------------------------------------------------------------
# box geometry


def xywh2xyxy(b):
    xy, wh = b[..., :2], b[..., 2:4] / 2
    return torch.cat((xy - wh, xy + wh), -1)


def bbox_iou(box1, box2, ciou=False, eps=1e-7):
    """IoU (or CIoU) of xyxy boxes, broadcasting over the leading dims; [..., 1]."""
    b1x1, b1y1, b1x2, b1y2 = box1.chunk(4, -1)
    b2x1, b2y1, b2x2, b2y2 = box2.chunk(4, -1)
    w1, h1 = b1x2 - b1x1, (b1y2 - b1y1).clamp(eps)
    w2, h2 = b2x2 - b2x1, (b2y2 - b2y1).clamp(eps)
    inter = ((torch.min(b1x2, b2x2) - torch.max(b1x1, b2x1)).clamp(0)
             * (torch.min(b1y2, b2y2) - torch.max(b1y1, b2y1)).clamp(0))
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if not ciou:
        return iou
    # smallest enclosing box diagonal, centre distance, aspect-ratio consistency
    cw = torch.max(b1x2, b2x2) - torch.min(b1x1, b2x1)
    ch = torch.max(b1y2, b2y2) - torch.min(b1y1, b2y1)
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((b2x1 + b2x2 - b1x1 - b1x2) ** 2 + (b2y1 + b2y2 - b1y1 - b1y2) ** 2) / 4
    v = (4 / math.pi ** 2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def bbox2dist(anchor_points, bbox, reg_max):
    """xyxy boxes -> (left, top, right, bottom) distances from the anchor points,
    clamped to [0, reg_max - 1 - 0.01] (the last bin must have a right neighbour)."""
    x1y1, x2y2 = bbox.chunk(2, -1)
    return torch.cat((anchor_points - x1y1, x2y2 - anchor_points), -1).clamp(0, reg_max - 1 - 0.01)


# --------------------------------------------------------------------------
# task-aligned assigner


class TaskAlignedAssigner(nn.Module):
    """Assign ground-truth boxes to anchor points (see the module docstring).

    forward(pd_scores [B, A, C] (probabilities), pd_bboxes [B, A, 4] (xyxy px),
            anc_points [A, 2] (px), gt_labels [B, G, 1], gt_bboxes [B, G, 4] (xyxy px),
            mask_gt [B, G, 1])
    -> target_labels [B, A], target_bboxes [B, A, 4], target_scores [B, A, C],
       fg_mask [B, A] (bool), target_gt_idx [B, A]
    """

    def __init__(self, topk=10, num_classes=80, alpha=0.5, beta=6.0, eps=1e-9):
        super().__init__()
        self.topk = topk
        self.num_classes = num_classes
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    @torch.no_grad()
    def forward(self, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt):
        bs, na, nc = pd_scores.shape
        ng = gt_bboxes.shape[1]
        device = pd_scores.device
        if ng == 0:
            return (torch.full((bs, na), nc, dtype=torch.long, device=device),
                    torch.zeros_like(pd_bboxes), torch.zeros_like(pd_scores),
                    torch.zeros((bs, na), dtype=torch.bool, device=device),
                    torch.zeros((bs, na), dtype=torch.long, device=device))

        in_gts = self.anchors_in_boxes(anc_points, gt_bboxes) & mask_gt.bool()  # [B, G, A]
        align, overlaps = self.box_metrics(pd_scores, pd_bboxes, gt_labels, gt_bboxes, in_gts)
        mask_pos = self.topk_mask(align, mask_gt.bool()) & in_gts  # [B, G, A]

        # an anchor claimed by several boxes keeps the one it overlaps most
        multi = mask_pos.sum(1, keepdim=True) > 1
        if multi.any():
            best = torch.where(mask_pos, overlaps, -1.0).argmax(1, keepdim=True)  # [B, 1, A]
            only_best = torch.zeros_like(mask_pos).scatter_(1, best, True)
            mask_pos = torch.where(multi, only_best & mask_pos, mask_pos)
        fg_mask = mask_pos.any(1)  # [B, A]
        target_gt_idx = mask_pos.float().argmax(1)  # [B, A]

        # targets of each anchor: its box's label and coordinates
        batch_ind = torch.arange(bs, device=device).unsqueeze(-1)
        flat_idx = target_gt_idx + batch_ind * ng
        target_labels = gt_labels.long().flatten()[flat_idx].clamp_(0, nc - 1)  # [B, A]
        target_bboxes = gt_bboxes.view(-1, 4)[flat_idx]  # [B, A, 4]
        target_scores = F.one_hot(target_labels, nc) * fg_mask.unsqueeze(-1)

        # soft scores: alignment normalised per box so that its best anchor gets its best IoU
        align = align * mask_pos
        pos_align = align.amax(-1, keepdim=True)  # [B, G, 1]
        pos_overlaps = (overlaps * mask_pos).amax(-1, keepdim=True)
        norm = (align * pos_overlaps / (pos_align + self.eps)).amax(1)  # [B, A]
        target_scores = target_scores * norm.unsqueeze(-1)
        return target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx

    def anchors_in_boxes(self, anc_points, gt_bboxes):
        """[B, G, A]: the anchor centre lies strictly inside the box."""
        bs, ng, _ = gt_bboxes.shape
        lt, rb = gt_bboxes.view(-1, 1, 4).chunk(2, 2)  # [B*G, 1, 2]
        deltas = torch.cat((anc_points[None] - lt, rb - anc_points[None]), 2)
        return deltas.amin(2).gt(self.eps).view(bs, ng, -1)

    def box_metrics(self, pd_scores, pd_bboxes, gt_labels, gt_bboxes, in_gts):
        """Alignment metric and CIoU (>= 0) for the (box, anchor) pairs in in_gts; 0 elsewhere."""
        bs, ng, na = in_gts.shape
        overlaps = torch.zeros((bs, ng, na), dtype=pd_bboxes.dtype, device=pd_bboxes.device)
        scores = torch.zeros_like(overlaps)
        b, g, a = in_gts.nonzero(as_tuple=True)
        cls = gt_labels[b, g, 0].long()
        scores[b, g, a] = pd_scores[b, a, cls]
        overlaps[b, g, a] = bbox_iou(gt_bboxes[b, g], pd_bboxes[b, a], ciou=True).squeeze(-1).clamp_(0)
        align = scores.pow(self.alpha) * overlaps.pow(self.beta)
        return align, overlaps

    def topk_mask(self, metrics, valid_gt):
        """[B, G, A] bool: the top-k anchors of each real box by the metric."""
        idx = metrics.topk(self.topk, dim=-1, largest=True).indices  # [B, G, k]
        mask = torch.zeros_like(metrics, dtype=torch.bool).scatter_(-1, idx, True)
        return mask & valid_gt


# --------------------------------------------------------------------------
# the loss


class DetectionLoss:
    """Box (CIoU), classification (BCE) and DFL losses for a yolo_arch DetectionModel."""

    def __init__(self, model, box=7.5, cls=0.5, dfl=1.5, topk=10, alpha=0.5, beta=6.0):
        head = model.model[-1]
        self.nc = head.nc
        self.reg_max = head.reg_max
        self.no = head.no
        self.stride = head.stride.clone().float()
        self.gains = (box, cls, dfl)
        self.assigner = TaskAlignedAssigner(topk=topk, num_classes=self.nc, alpha=alpha, beta=beta)
        self.bins = torch.arange(self.reg_max, dtype=torch.float)

    def decode(self, anchor_points, pred_dist):
        """Bin logits [B, A, 4*reg_max] -> xyxy boxes in grid units."""
        b, a, _ = pred_dist.shape
        proba = pred_dist.view(b, a, 4, self.reg_max).softmax(3)
        dist = proba @ self.bins.to(pred_dist.device, pred_dist.dtype)
        return dist2bbox(dist, anchor_points, xywh=False)

    @staticmethod
    def targets_per_image(targets, bs, imgsz, device):
        """[M, 6] (image, class, cx, cy, w, h normalised) -> padded [B, G, 5] (class, xyxy px)."""
        if targets.shape[0] == 0:
            return torch.zeros(bs, 0, 5, device=device)
        i = targets[:, 0].long()
        counts = torch.bincount(i, minlength=bs)
        out = torch.zeros(bs, int(counts.max()), 5, device=device)
        # position of every target within its image
        order = torch.argsort(i, stable=True)
        i_sorted = i[order]
        start = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(i), device=device) - start[i_sorted]
        box = xywh2xyxy(targets[order, 2:6] * torch.tensor([imgsz[1], imgsz[0]] * 2, device=device,
                                                           dtype=targets.dtype))
        out[i_sorted, slot] = torch.cat((targets[order, 1:2], box), 1)
        return out

    def __call__(self, feats, targets):
        """feats: the model's train-mode output (list of [B, no, H, W]); returns
        (total loss * batch size, detached [box, cls, dfl])."""
        device = feats[0].device
        bs = feats[0].shape[0]
        pred = torch.cat([f.float().view(bs, self.no, -1) for f in feats], 2)
        pred_distri, pred_scores = pred.split((self.reg_max * 4, self.nc), 1)
        pred_distri = pred_distri.permute(0, 2, 1).contiguous()  # [B, A, 4*reg_max]
        pred_scores = pred_scores.permute(0, 2, 1).contiguous()  # [B, A, nc]

        imgsz = (feats[0].shape[2] * int(self.stride[0]), feats[0].shape[3] * int(self.stride[0]))
        anchor_points, stride_t = make_anchors(feats, self.stride, 0.5)
        anchor_points, stride_t = anchor_points.float(), stride_t.float()

        gt = self.targets_per_image(targets.to(device).float(), bs, imgsz, device)
        gt_labels, gt_bboxes = gt.split((1, 4), 2)
        mask_gt = gt_bboxes.sum(2, keepdim=True).gt_(0)

        pred_bboxes = self.decode(anchor_points, pred_distri)  # grid units
        _, target_bboxes, target_scores, fg_mask, _ = self.assigner(
            pred_scores.detach().sigmoid(), (pred_bboxes.detach() * stride_t).type(gt_bboxes.dtype),
            anchor_points * stride_t, gt_labels, gt_bboxes, mask_gt)
        target_scores_sum = max(target_scores.sum(), 1)

        loss = torch.zeros(3, device=device)
        loss[1] = F.binary_cross_entropy_with_logits(pred_scores, target_scores, reduction="none").sum() \
            / target_scores_sum
        if fg_mask.any():
            target_bboxes = target_bboxes / stride_t
            weight = target_scores.sum(-1)[fg_mask].unsqueeze(-1)
            iou = bbox_iou(pred_bboxes[fg_mask], target_bboxes[fg_mask], ciou=True)
            loss[0] = ((1.0 - iou) * weight).sum() / target_scores_sum
            target_ltrb = bbox2dist(anchor_points, target_bboxes, self.reg_max)
            dfl = self.dfl(pred_distri[fg_mask].view(-1, self.reg_max), target_ltrb[fg_mask])
            loss[2] = (dfl * weight).sum() / target_scores_sum

        loss = loss * torch.tensor(self.gains, device=device)
        return loss.sum() * bs, loss.detach()

    @staticmethod
    def dfl(pred_dist, target):
        """Distribution focal loss: cross-entropy towards the two bins around the
        continuous target, weighted by closeness; mean over the 4 sides, [n, 1]."""
        tl = target.long()
        tr = tl + 1
        wl = tr - target
        wr = 1 - wl
        return (F.cross_entropy(pred_dist, tl.view(-1), reduction="none").view(tl.shape) * wl
                + F.cross_entropy(pred_dist, tr.view(-1), reduction="none").view(tl.shape) * wr
                ).mean(-1, keepdim=True)
