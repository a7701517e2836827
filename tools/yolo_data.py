"""Detection data for tools/train.py: read a split, keep it letterboxed in memory.

Two layouts (both written by `qbench demo-data`):

- raw (`--format raw`): DIR/raw.json (count, width, height, splits, names),
  DIR/<split>.rgb (uint8 N x H x W x 3, RGB, stereo pairs as consecutive
  images) and DIR/<split>.labels (text lines `image_index class cx cy w h`,
  coordinates normalised to the image);
- Ultralytics: DIR/data.yaml (or the yaml file itself) with train/val image
  folders and names; labels/<split>/<stem>.txt next to images/<split>/.

Every image is letterboxed once into an ImageCache: the resized images as one
uint8 tensor (on the training device; the grey padding is not stored), the
place of each in the S x S letterbox, and the labels. Training augmentation (yolo_augment) samples from the cache; the
validation input is the cache itself (Ultralytics' letterbox: keep the aspect
ratio, pad with 114 around the centred image).
"""

import glob
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

PAD_VALUE = 114
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class Split:
    """One split as read from disk: images (an [N, H, W, 3] uint8 array, maybe a
    memmap, or a list of file paths), labels (per image, float32 [n, 5]: class,
    cx, cy, w, h normalised) and the class names."""

    def __init__(self, images, labels, names, source):
        self.images = images
        self.labels = labels
        self.names = names
        self.source = source

    def __len__(self):
        return len(self.labels)


# --------------------------------------------------------------------------
# raw layout


def _names_list(names):
    if isinstance(names, dict):
        return [names[k] for k in sorted(names, key=int)]
    return list(names)


def read_labels_text(path, n_images):
    """`image_index class cx cy w h` lines -> per-image [n, 5] float32 arrays."""
    labels = [np.zeros((0, 5), np.float32) for _ in range(n_images)]
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return labels
    rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if rows.shape[1] != 6:
        raise ValueError(f"{path}: expected 6 columns (image class cx cy w h), got {rows.shape[1]}")
    idx = rows[:, 0].astype(np.int64)
    if idx.min() < 0 or idx.max() >= n_images:
        raise ValueError(f"{path}: image index out of range 0..{n_images - 1}")
    order = np.argsort(idx, kind="stable")
    idx, rows = idx[order], rows[order, 1:].astype(np.float32)
    bounds = np.searchsorted(idx, np.arange(n_images + 1))
    for i in range(n_images):
        labels[i] = rows[bounds[i]:bounds[i + 1]]
    return labels


def read_raw(root, split):
    with open(os.path.join(root, "raw.json")) as f:
        meta = json.load(f)
    w, h = int(meta["width"]), int(meta["height"])
    path = os.path.join(root, f"{split}.rgb")
    size = os.path.getsize(path)
    if size % (w * h * 3):
        raise ValueError(f"{path}: {size} bytes is not a whole number of {w}x{h}x3 images")
    n = size // (w * h * 3)
    images = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, h, w, 3))
    labels = read_labels_text(os.path.join(root, f"{split}.labels"), n)
    return Split(images, labels, _names_list(meta["names"]), f"{path} (raw {n}x{h}x{w})")


# --------------------------------------------------------------------------
# Ultralytics layout


def parse_simple_yaml(text):
    """The subset of YAML a data.yaml uses: `key: value` lines, and `names` as an
    inline list, a block list (`- name`) or a block mapping (`0: name`)."""
    out, key = {}, None
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indented = line[0] in " \t"
        s = line.strip()
        if indented and key is not None:
            if s.startswith("- "):
                out[key] = (out[key] or []) + [s[2:].strip().strip("'\"")]
            else:
                k, v = s.split(":", 1)
                out[key] = out[key] or {}
                out[key][int(k)] = v.strip().strip("'\"")
            continue
        k, v = s.split(":", 1)
        key, v = k.strip(), v.strip()
        if v.startswith("["):
            out[key] = [x.strip().strip("'\"") for x in v.strip("[]").split(",") if x.strip()]
        elif v.startswith("{"):
            out[key] = {int(a): b.strip().strip("'\"") for a, b in
                        (x.split(":", 1) for x in v.strip("{}").split(",") if x.strip())}
        else:
            out[key] = v.strip("'\"") or None
    return out


def read_yaml(path):
    with open(path) as f:
        text = f.read()
    try:
        import yaml
        return yaml.safe_load(text)
    except ImportError:
        return parse_simple_yaml(text)


def label_path(image_path):
    """Ultralytics' rule: the last /images/ becomes /labels/, the extension .txt."""
    a, b = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return os.path.splitext(b.join(image_path.rsplit(a, 1)))[0] + ".txt"


def read_ultralytics(data, split):
    yaml_path = data if data.endswith((".yaml", ".yml")) else os.path.join(data, "data.yaml")
    cfg = read_yaml(yaml_path)
    base = os.path.dirname(os.path.abspath(yaml_path))
    root = cfg.get("path") or base
    if not os.path.isabs(root):
        root = os.path.join(base, root)
    img_dir = os.path.join(root, cfg.get(split) or f"images/{split}")
    files = sorted(p for p in glob.glob(os.path.join(img_dir, "*")) if p.lower().endswith(IMAGE_EXTS))
    if not files:
        raise FileNotFoundError(f"no images in {img_dir}")
    labels = []
    for p in files:
        lab = label_path(p)
        if os.path.exists(lab) and os.path.getsize(lab):
            labels.append(np.loadtxt(lab, dtype=np.float32, ndmin=2).reshape(-1, 5))
        else:
            labels.append(np.zeros((0, 5), np.float32))
    return Split(files, labels, _names_list(cfg["names"]), f"{img_dir} ({len(files)} images)")


def decode_image(path):
    """File -> RGB uint8 [H, W, 3] (OpenCV when installed, else Pillow)."""
    try:
        import cv2
        im = cv2.imread(path, cv2.IMREAD_COLOR)
        if im is None:
            raise ValueError(f"cannot decode {path}")
        return np.ascontiguousarray(im[:, :, ::-1])
    except ImportError:
        from PIL import Image
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))


def load_split(data, split):
    """Read DIR (raw or Ultralytics layout) or a data.yaml."""
    if os.path.isdir(data) and os.path.exists(os.path.join(data, "raw.json")):
        return read_raw(data, split)
    return read_ultralytics(data, split)


# --------------------------------------------------------------------------
# letterboxed in-memory cache


def letterbox_geometry(h, w, s):
    """Scale and placement of an h x w image letterboxed into s x s: (r, new_w, new_h, left, top)."""
    r = min(s / h, s / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    left = int(round((s - nw) / 2 - 0.1))
    top = int(round((s - nh) / 2 - 0.1))
    return r, nw, nh, left, top


def clean_labels(lab, nc):
    """Boxes clipped to the image, empty ones dropped; classes must be in 0..nc-1."""
    cls = lab[:, 0]
    if len(cls) and (cls.min() < 0 or cls.max() >= nc or (cls != np.round(cls)).any()):
        raise ValueError(f"label classes must be integers 0..{nc - 1}, got {np.unique(cls)}")
    x1y1 = (lab[:, 1:3] - lab[:, 3:5] / 2).clip(0, 1)
    x2y2 = (lab[:, 1:3] + lab[:, 3:5] / 2).clip(0, 1)
    out = np.concatenate((cls[:, None], (x1y1 + x2y2) / 2, x2y2 - x1y1), 1).astype(np.float32)
    return out[(out[:, 3] > 0) & (out[:, 4] > 0)]


class ImageCache:
    """Letterboxed images of one split, stored without their padding.

    Letterboxing image i into S x S puts its resized content at rects[i] =
    (x0, y0, w, h), in letterbox pixels. images [N, Hs, Ws, 3] (uint8, on the
    given device) holds that content at its top-left corner; Hs x Ws is the
    largest content size, so a set of equal-sized images stores no padding
    (640 x 384 frames: 0.74 MB each rather than 1.2). shapes [N, 2]: original
    (h, w); labels per image [n, 5] (class, cx, cy, w, h normalised to the
    original); names."""

    def __init__(self, split, imgsz, device, threads=8, chunk=64):
        n = len(split)
        self.imgsz = imgsz
        self.names = split.names
        self.labels = [clean_labels(lab, len(split.names)) for lab in split.labels]
        if isinstance(split.images, np.ndarray):
            self._allocate([split.images.shape[1:3]] * n, device)
            for i in range(0, n, chunk):
                batch = torch.from_numpy(np.array(split.images[i:i + chunk])).to(device)
                for j in range(batch.shape[0]):
                    self._put(i + j, batch[j])
        else:
            with ThreadPoolExecutor(threads) as pool:
                decoded = list(pool.map(decode_image, split.images))
            self._allocate([im.shape[:2] for im in decoded], device)
            for i, im in enumerate(decoded):
                self._put(i, torch.from_numpy(im).to(device))

    def _allocate(self, shapes, device):
        self.shapes = np.array(shapes, np.int64).reshape(-1, 2)
        self.rects = np.zeros((len(shapes), 4))
        for i, (h, w) in enumerate(self.shapes):
            _, nw, nh, left, top = letterbox_geometry(h, w, self.imgsz)
            self.rects[i] = (left, top, nw, nh)
        hs = int(self.rects[:, 3].max()) if len(shapes) else 0
        ws = int(self.rects[:, 2].max()) if len(shapes) else 0
        self.images = torch.full((len(shapes), hs, ws, 3), PAD_VALUE, dtype=torch.uint8, device=device)

    def _put(self, i, im):
        h, w = im.shape[:2]
        nw, nh = int(self.rects[i, 2]), int(self.rects[i, 3])
        if (nw, nh) != (w, h):
            x = im.permute(2, 0, 1).unsqueeze(0).float()
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=nw < w)
            im = x.squeeze(0).permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)
        self.images[i, :nh, :nw] = im

    def __len__(self):
        return self.images.shape[0]

    def boxes_px(self, i):
        """Labels of image i: classes [n] and xyxy boxes [n, 4] in letterbox pixels."""
        lab = self.labels[i]
        x0, y0, w, h = self.rects[i]
        cx, cy = lab[:, 1] * w + x0, lab[:, 2] * h + y0
        bw, bh = lab[:, 3] * w, lab[:, 4] * h
        return lab[:, 0], np.stack((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), 1)

    def batch(self, start, end, device):
        """Validation input: images start..end letterboxed, float [B, 3, S, S] in 0..1."""
        s = self.imgsz
        out = torch.full((end - start, s, s, 3), PAD_VALUE, dtype=torch.uint8, device=device)
        for k, i in enumerate(range(start, end)):
            x0, y0, w, h = self.rects[i].astype(int)
            out[k, y0:y0 + h, x0:x0 + w] = self.images[i, :h, :w].to(device)
        return out.permute(0, 3, 1, 2).float().div_(255)

    def num_instances(self):
        return int(sum(len(lab) for lab in self.labels))
