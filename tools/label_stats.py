#!/usr/bin/python3
"""Box statistics of a YOLO-format label folder (docs/DEMO_DATA.md).

    /usr/bin/python3 tools/label_stats.py build/demo --split val [--height 384]

Heights are in pixels of an image HEIGHT tall (the demo renders 640x384)."""
import argparse
import glob
import os

import numpy as np

NAMES = ["blue", "yellow", "orange", "large orange"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--split", default="val")
    ap.add_argument("--height", type=float, default=384)
    a = ap.parse_args()
    images = glob.glob(os.path.join(a.root, "images", a.split, "*"))
    per, cls, h = [], [], []
    for img in images:
        lab = os.path.join(a.root, "labels", a.split, os.path.splitext(os.path.basename(img))[0] + ".txt")
        rows = np.loadtxt(lab, ndmin=2) if os.path.exists(lab) else np.zeros((0, 5))
        per.append(len(rows))
        cls += list(rows[:, 0].astype(int))
        h += list(rows[:, 4] * a.height)
    per, cls, h = np.array(per), np.array(cls), np.array(h)
    print(f"{len(images)} images, {len(h)} boxes")
    print(f"boxes per image: mean {per.mean():.1f}, median {np.median(per):.0f}, p10 {np.percentile(per, 10):.0f}, "
          f"p90 {np.percentile(per, 90):.0f}, max {per.max()}; {(per == 0).sum()} images without a box")
    print("class balance: " + ", ".join(f"{n} {100 * (cls == c).mean():.1f}% ({(cls == c).sum()})"
                                        for c, n in enumerate(NAMES)))
    q = np.percentile(h, [10, 25, 50, 75, 90])
    print(f"box height (px): p10 {q[0]:.0f}, p25 {q[1]:.0f}, median {q[2]:.0f}, p75 {q[3]:.0f}, p90 {q[4]:.0f}, "
          f"max {h.max():.0f}")
    edges = [0, 8, 12, 16, 24, 32, 48, 64, np.inf]
    print("height (px) " + " | ".join(f"{lo:g}-{hi:g}: {100 * ((h >= lo) & (h < hi)).mean():.1f}%"
                                      for lo, hi in zip(edges[:-1], edges[1:])))
    for c, n in enumerate(NAMES):
        hc = h[cls == c]
        print(f"{n}: " + " | ".join(f"{lo:g}-{hi:g}: {((hc >= lo) & (hc < hi)).sum()}"
                                    for lo, hi in [(0, 8), (8, 16), (16, 32), (32, np.inf)]))


if __name__ == "__main__":
    main()
