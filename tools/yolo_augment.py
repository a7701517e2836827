"""Training batches with Ultralytics-style augmentation, sampled from an ImageCache.

Per sample (parameters drawn on the CPU from a numpy Generator, so a batch is
fully determined by (seed, epoch, batch index) and resuming replays it exactly):

- mosaic (probability `mosaic`): four images (the sample and three random ones)
  around a random centre (xc, yc) in [S/2, 3S/2] of a 2S x 2S canvas, one per
  quadrant, touching at the centre; labels clipped to what stays visible;
- otherwise the letterboxed image itself is the (S x S) canvas;
- a random affine from the canvas to the S x S output: rotation (degrees,
  default 0), scale 1 +- scale, translation of the canvas centre to
  S * (0.5 +- translate), and a horizontal flip with probability fliplr;
- boxes: their four corners through the affine, clipped to the output, and
  kept when wider and taller than 2 px, with more than 10% of their scaled
  area left and an aspect ratio below 100;
- HSV: hue scaled by 1 +- hsv_h (modulo 1), saturation by 1 +- hsv_s, value
  by 1 +- hsv_v (clamped), on the whole output image.

The pixels are produced on the training device in one pass: every output pixel
is mapped back through the affine into the canvas, and from its quadrant into
the source image, sampled bilinearly (grid_sample); pixels outside any image
get the padding grey 114.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from yolo_data import PAD_VALUE


@dataclass
class AugmentConfig:
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    fliplr: float = 0.5
    mosaic: float = 1.0


@dataclass
class SampleGeometry:
    """Where one output image comes from: up to four tiles, each an image index,
    a visible rectangle in canvas pixels (x0, y0, x1, y1) and the offset that
    turns canvas coordinates into that image's stored pixels (ImageCache.images);
    and the inverse affine (output -> canvas) as a 2 x 3 matrix."""
    ids: np.ndarray  # [4] int
    regions: np.ndarray  # [4, 4]
    offsets: np.ndarray  # [4, 2]
    minv: np.ndarray  # [2, 3]


def _mosaic_tiles(cache, index, rng):
    """Canvas layout of a mosaic: tiles and the labels in canvas pixels."""
    s = cache.imgsz
    xc, yc = (int(rng.uniform(s / 2, 3 * s / 2)) for _ in range(2))
    ids = np.concatenate(([index], rng.integers(0, len(cache), 3)))
    regions, offsets = np.zeros((4, 4)), np.zeros((4, 2))
    classes, boxes = [], []
    for k, i in enumerate(ids):
        x0, y0, w, h = cache.rects[i]
        px = xc - w if k in (0, 2) else xc  # tile's top-left corner on the canvas
        py = yc - h if k in (0, 1) else yc
        region = np.array([max(px, 0), max(py, 0), min(px + w, 2 * s), min(py + h, 2 * s)])
        regions[k] = region
        offsets[k] = (-px, -py)
        cls, b = cache.boxes_px(i)  # letterbox pixels -> canvas
        b = b + np.tile((px - x0, py - y0), 2)
        b[:, 0::2] = b[:, 0::2].clip(region[0], region[2])
        b[:, 1::2] = b[:, 1::2].clip(region[1], region[3])
        classes.append(cls)
        boxes.append(b)
    return ids, regions, offsets, np.concatenate(classes), np.concatenate(boxes), (s, s)


def _single_tile(cache, index):
    """The letterboxed image alone is the canvas."""
    x0, y0, w, h = cache.rects[index]
    ids = np.array([index, index, index, index])
    regions, offsets = np.zeros((4, 4)), np.zeros((4, 2))
    regions[0] = (x0, y0, x0 + w, y0 + h)
    offsets[0] = (-x0, -y0)
    cls, b = cache.boxes_px(index)
    s = cache.imgsz
    return ids, regions, offsets, cls, b, (s / 2, s / 2)


def random_affine(rng, cfg, s, centre):
    """3 x 3 canvas -> output matrix and its scale factor."""
    c = np.eye(3)
    c[:2, 2] = (-centre[0], -centre[1])
    a = math.radians(rng.uniform(-cfg.degrees, cfg.degrees))
    sc = rng.uniform(1 - cfg.scale, 1 + cfg.scale)
    r = np.eye(3)
    r[:2, :2] = sc * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    t = np.eye(3)
    t[:2, 2] = (rng.uniform(0.5 - cfg.translate, 0.5 + cfg.translate) * s,
                rng.uniform(0.5 - cfg.translate, 0.5 + cfg.translate) * s)
    m = t @ r @ c
    if rng.random() < cfg.fliplr:
        m = np.array([[-1.0, 0, s], [0, 1, 0], [0, 0, 1]]) @ m
    return m, sc


def transform_boxes(boxes, m, sc, s):
    """xyxy boxes through the affine (bounding box of the corners), clipped to the
    output; returns the boxes and the mask of the ones worth keeping."""
    n = len(boxes)
    if n == 0:
        return boxes, np.zeros(0, bool)
    corners = boxes[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(n * 4, 2)
    xy = corners @ m[:2, :2].T + m[:2, 2]
    xy = xy.reshape(n, 4, 2)
    out = np.concatenate((xy.min(1), xy.max(1)), 1).clip(0, s)
    w1, h1 = (boxes[:, 2] - boxes[:, 0]) * sc, (boxes[:, 3] - boxes[:, 1]) * sc
    w2, h2 = out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]
    ar = np.maximum(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16))
    keep = (w2 > 2) & (h2 > 2) & (w2 * h2 / (w1 * h1 + 1e-16) > 0.1) & (ar < 100)
    return out, keep


def sample_geometry(cache, index, rng, cfg, use_mosaic):
    """Random geometry of one training sample and its labels (classes, xyxy output px)."""
    s = cache.imgsz
    if use_mosaic and rng.random() < cfg.mosaic:
        ids, regions, offsets, cls, boxes, centre = _mosaic_tiles(cache, index, rng)
    else:
        ids, regions, offsets, cls, boxes, centre = _single_tile(cache, index)
    m, sc = random_affine(rng, cfg, s, centre)
    boxes, keep = transform_boxes(boxes, m, sc, s)
    geo = SampleGeometry(ids, regions, offsets, np.linalg.inv(m)[:2])
    return geo, cls[keep], boxes[keep]


def warp(cache, geos, device, chunk=16):
    """Render the samples: float [B, 3, S, S] in 0..255 on device."""
    s = cache.imgsz
    ids = torch.as_tensor(np.stack([g.ids for g in geos]), device=device)
    regions = torch.as_tensor(np.stack([g.regions for g in geos]), dtype=torch.float32, device=device)
    offsets = torch.as_tensor(np.stack([g.offsets for g in geos]), dtype=torch.float32, device=device)
    minv = torch.as_tensor(np.stack([g.minv for g in geos]), dtype=torch.float32, device=device)
    hs, ws = cache.images.shape[1:3]
    scale = torch.tensor([2.0 / ws, 2.0 / hs], device=device)  # stored pixels -> grid_sample's -1..1
    centres = torch.arange(s, dtype=torch.float32, device=device) + 0.5
    gy, gx = torch.meshgrid(centres, centres, indexing="ij")
    pix = torch.stack((gx, gy, torch.ones_like(gx)), -1).view(1, s * s, 3)
    out = []
    for b0 in range(0, len(geos), chunk):
        b1 = min(b0 + chunk, len(geos))
        canvas = (pix @ minv[b0:b1].transpose(1, 2)).view(b1 - b0, s, s, 2)  # output -> canvas
        img = torch.full((b1 - b0, 3, s, s), float(PAD_VALUE), device=device)
        for k in range(4):
            reg = regions[b0:b1, k]
            live = (reg[:, 2] > reg[:, 0]) & (reg[:, 3] > reg[:, 1])
            if not bool(live.any()):
                continue
            r = reg.view(-1, 1, 1, 4)
            inside = ((canvas[..., 0] >= r[..., 0]) & (canvas[..., 0] < r[..., 2])
                      & (canvas[..., 1] >= r[..., 1]) & (canvas[..., 1] < r[..., 3]))
            src = canvas + offsets[b0:b1, k].view(-1, 1, 1, 2)  # stored pixels
            grid = src * scale - 1.0
            tiles = cache.images[ids[b0:b1, k].to(cache.images.device)].to(device)
            tiles = tiles.permute(0, 3, 1, 2).float()
            sampled = F.grid_sample(tiles, grid, mode="bilinear", padding_mode="border",
                                    align_corners=False)
            img = torch.where(inside.unsqueeze(1), sampled, img)
        out.append(img)
    return torch.cat(out)


# --------------------------------------------------------------------------
# colour


def rgb_to_hsv(x):
    """[B, 3, H, W] RGB in 0..1 -> HSV in 0..1 (hue as a fraction of the circle)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp(min=1e-12), torch.zeros_like(maxc))
    d = delta.clamp(min=1e-12)
    h = torch.where(maxc == r, (g - b) / d,
                    torch.where(maxc == g, 2.0 + (b - r) / d, 4.0 + (r - g) / d))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, maxc), 1)


def hsv_to_rgb(x):
    h, s, v = x.unbind(1)
    h6 = h * 6.0
    i = torch.floor(h6)
    f = h6 - i
    i = i.long() % 6
    p = v * (1 - s)
    q = v * (1 - s * f)
    t = v * (1 - s * (1 - f))
    r = torch.stack((v, q, p, p, t, v), 1).gather(1, i.unsqueeze(1))
    g = torch.stack((t, v, v, q, p, p), 1).gather(1, i.unsqueeze(1))
    b = torch.stack((p, p, t, v, v, q), 1).gather(1, i.unsqueeze(1))
    return torch.cat((r, g, b), 1)


def augment_hsv(img, gains):
    """img [B, 3, H, W] in 0..1; gains [B, 3] multiplicative (h, s, v)."""
    hsv = rgb_to_hsv(img)
    g = gains.view(-1, 3, 1, 1)
    h = (hsv[:, 0:1] * g[:, 0:1]) % 1.0
    sv = (hsv[:, 1:3] * g[:, 1:3]).clamp_(0, 1)
    return hsv_to_rgb(torch.cat((h, sv), 1))


# --------------------------------------------------------------------------
# batches


def train_batch(cache, indices, rng, cfg, use_mosaic, device):
    """Augmented batch: images float [B, 3, S, S] in 0..1 and targets [M, 6]
    (image in batch, class, cx, cy, w, h normalised), both on device."""
    s = cache.imgsz
    geos, rows = [], []
    for b, index in enumerate(indices):
        geo, cls, boxes = sample_geometry(cache, int(index), rng, cfg, use_mosaic)
        geos.append(geo)
        if len(cls):
            xywh = np.stack(((boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                             boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 1) / s
            rows.append(np.concatenate((np.full((len(cls), 1), b), cls[:, None], xywh), 1))
    gains = rng.uniform(-1, 1, (len(indices), 3)) * (cfg.hsv_h, cfg.hsv_s, cfg.hsv_v) + 1
    img = warp(cache, geos, device).div_(255)
    if cfg.hsv_h or cfg.hsv_s or cfg.hsv_v:
        img = augment_hsv(img, torch.as_tensor(gains, dtype=torch.float32, device=device))
    targets = np.concatenate(rows) if rows else np.zeros((0, 6))
    return img, torch.as_tensor(targets, dtype=torch.float32, device=device)
