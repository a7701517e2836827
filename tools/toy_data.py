#!/usr/bin/env python3
"""A toy detection set for smoke-testing tools/train.py (numpy only, no renderer).

    python3 tools/toy_data.py --out DIR [--format raw|ultralytics] [--train 64 --val 16]
                              [--width 160 --height 120 --seed 0]

Draws 1-6 flat-coloured upright rectangles ("cones": blue, yellow, orange,
and large orange, twice as tall) on a smooth noisy background, and writes the
same layouts as `qbench demo-data`: raw (raw.json, <split>.rgb,
<split>.labels) or Ultralytics (data.yaml, images/<split>/*.png,
labels/<split>/*.txt; needs Pillow or OpenCV to write the PNGs).
"""

import argparse
import json
import os

import numpy as np

NAMES = ["blue_cone", "yellow_cone", "orange_cone", "large_orange_cone"]
COLOURS = np.array([[30, 60, 220], [235, 215, 30], [250, 120, 20], [250, 120, 20]], np.float32)


def make_image(rng, w, h):
    """One image (uint8 [h, w, 3]) and its labels [n, 5] (class, cx, cy, w, h normalised)."""
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 160, 3).astype(np.float32)
    slope = rng.uniform(-0.4, 0.4, (2, 3)).astype(np.float32)
    img = base + gx[..., None] * slope[0] * 80 / w + gy[..., None] * slope[1] * 80 / h
    img += rng.normal(0, 8, (h, w, 3)).astype(np.float32)
    labels = []
    for _ in range(rng.integers(1, 7)):
        c = int(rng.integers(0, 4))
        bw = rng.uniform(0.06, 0.16) * w
        bh = bw * (1.4 if c < 3 else 2.6)
        x0 = rng.uniform(0, w - bw)
        y0 = rng.uniform(0, h - bh) if h > bh else 0
        x1, y1 = int(round(x0)), int(round(y0))
        x2, y2 = int(round(x0 + bw)), min(int(round(y0 + bh)), h)
        shade = rng.uniform(0.8, 1.1)
        img[y1:y2, x1:x2] = COLOURS[c] * shade
        if c >= 2:  # a white stripe on orange cones
            ys = y1 + (y2 - y1) // 3
            img[ys:ys + max(1, (y2 - y1) // 8), x1:x2] = 235
        labels.append([c, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h])
    return np.clip(img, 0, 255).astype(np.uint8), np.array(labels, np.float32).reshape(-1, 5)


def save_png(path, img):
    try:
        from PIL import Image
        Image.fromarray(img).save(path)
    except ImportError:
        import cv2
        cv2.imwrite(path, img[:, :, ::-1])


def write(out, fmt, counts, w, h, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    for split, n in counts.items():
        items = [make_image(rng, w, h) for _ in range(n)]
        if fmt == "raw":
            np.stack([im for im, _ in items]).tofile(os.path.join(out, f"{split}.rgb"))
            with open(os.path.join(out, f"{split}.labels"), "w") as f:
                for i, (_, lab) in enumerate(items):
                    for c, cx, cy, bw, bh in lab:
                        f.write(f"{i} {int(c)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}\n")
        else:
            os.makedirs(os.path.join(out, "images", split), exist_ok=True)
            os.makedirs(os.path.join(out, "labels", split), exist_ok=True)
            for i, (im, lab) in enumerate(items):
                save_png(os.path.join(out, "images", split, f"{i:05d}.png"), im)
                with open(os.path.join(out, "labels", split, f"{i:05d}.txt"), "w") as f:
                    for c, cx, cy, bw, bh in lab:
                        f.write(f"{int(c)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}\n")
    if fmt == "raw":
        meta = {"count": counts, "width": w, "height": h, "splits": list(counts), "names": NAMES}
        with open(os.path.join(out, "raw.json"), "w") as f:
            json.dump(meta, f, indent=1)
    else:
        with open(os.path.join(out, "data.yaml"), "w") as f:
            f.write(f"path: {os.path.abspath(out)}\ntrain: images/train\nval: images/val\n"
                    f"names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(NAMES)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--format", default="raw", choices=("raw", "ultralytics"))
    ap.add_argument("--train", type=int, default=64)
    ap.add_argument("--val", type=int, default=16)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    write(a.out, a.format, {"train": a.train, "val": a.val}, a.width, a.height, a.seed)


if __name__ == "__main__":
    main()
