#!/usr/bin/env python3
"""Unit tests of tools/eval_ref.py on hand-computed cases: python3 tools/test_eval_ref.py"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_ref as er  # noqa: E402 (re-runs under Debian's python3 when numpy is missing)

np = er.np
T = 10  # IoU thresholds


def rec(dets, labels):
    """A record: dets [[x1 y1 x2 y2 conf cls]], labels [[cls x1 y1 x2 y2]] in pixels."""
    lab = np.array(labels, dtype=np.float32).reshape(-1, 5)
    return {"dets": np.array(dets, dtype=np.float32).reshape(-1, 6),
            "lcls": lab[:, 0], "lboxes": lab[:, 1:]}


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = er.main(argv)
        except SystemExit as e:  # argparse
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


class Primitives(unittest.TestCase):
    def test_thresholds_float32(self):
        t = er.iou_thresholds()
        self.assertEqual(t.dtype, np.float32)
        self.assertEqual(len(t), T)
        self.assertEqual(float(t[0]), 0.5)
        self.assertEqual(float(t[5]), 0.75)
        # float32 rounding: 0.65f < 0.65, so an IoU of exactly 0.65f passes.
        self.assertLess(float(t[3]), 0.65)

    def test_compute_ap_perfect_is_0995(self):
        # mrec [0 1 1], mpre [1 1 0]: samples 1 at x < 1, 0 at x = 1 (np.interp returns
        # fp[-1] at xp[-1]) -> 0.99 + 0.01 * (1 + 0) / 2 = 0.995.
        ap, mpre, mrec = er.compute_ap(np.array([1.0]), np.array([1.0]))
        self.assertAlmostEqual(ap, 0.995, places=12)
        self.assertEqual(list(mrec), [0.0, 1.0, 1.0])
        self.assertEqual(list(mpre), [1.0, 1.0, 0.0])

    def test_compute_ap_half_recall(self):
        # (0,1) (0.5,1) (1,0): 0.5 + 0.25 = 0.75, breakpoint on the grid -> exact.
        ap = er.compute_ap(np.array([0.5]), np.array([1.0]))[0]
        self.assertAlmostEqual(ap, 0.75, places=12)

    def test_compute_ap_envelope(self):
        # P/R: (0.5, 0.5) then (1.0, 2/3): envelope lifts 0.5 -> 2/3; np.interp runs a
        # straight line from the sentinel (0, 1) to (0.5, 2/3), then 2/3 flat, then 0 at 1:
        # 0.5 * (1 + 2/3) / 2 + 0.49 * 2/3 + 0.01 * (2/3) / 2 = 0.746666...
        ap = er.compute_ap(np.array([0.5, 1.0]), np.array([0.5, 2 / 3]))[0]
        self.assertAlmostEqual(ap, 0.25 * 5 / 3 + 0.49 * 2 / 3 + 0.005 * 2 / 3, places=12)

    def test_smooth(self):
        y = np.full(1000, 0.25)
        s = er.smooth(y, 0.1)
        self.assertEqual(s.shape, (1000,))
        self.assertTrue(np.allclose(s, 0.25, atol=1e-15))
        step = np.zeros(1000)
        step[500:] = 1.0  # filter of width 101: value at 500 is 51/101
        s = er.smooth(step, 0.1)
        self.assertAlmostEqual(s[500], 51 / 101, places=12)
        self.assertAlmostEqual(s[449], 0.0, places=12)
        self.assertAlmostEqual(s[550], 1.0, places=12)

    def test_box_iou(self):
        iou = er.box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
        self.assertEqual(iou.dtype, np.float32)
        self.assertAlmostEqual(float(iou[0, 0]), 1.0, places=6)
        self.assertAlmostEqual(float(iou[0, 1]), 50 / 150, places=6)
        self.assertEqual(float(iou[0, 2]), 0.0)

    def test_iou_exactly_half(self):
        # 50 / (100 + 50 - 50 + 1e-7): in float32 the eps is absorbed (100 + 1e-7f == 100f),
        # so IoU is exactly 0.5 and matches at threshold 0.5 (in float64 it would not).
        iou = er.box_iou([[0, 0, 10, 10]], [[0, 0, 10, 5]])
        self.assertEqual(float(iou[0, 0]), 0.5)
        self.assertLess(50 / (100 + 50 - 50 + 1e-7), 0.5)
        c = er.match_predictions([0], [0], iou)
        self.assertEqual(c[0].tolist(), [True] + [False] * 9)
        iou = er.box_iou([[0, 0, 10, 10]], [[0, 0, 10, 4.999]])
        self.assertLess(float(iou[0, 0]), 0.5)
        self.assertFalse(er.match_predictions([0], [0], iou).any())


class Matching(unittest.TestCase):
    # Labels L0 [0 0 10 10], L1 [6 0 16 10]; D0 [1.5 0 13.5 10], D1 [0 0 9 10].
    # IoU: D0-L0 85/135 = 0.630, D0-L1 75/145 = 0.517, D1-L0 0.9, D1-L1 30/160 = 0.1875.
    L = [[0, 0, 0, 10, 10], [0, 6, 0, 16, 10]]
    D0 = [1.5, 0, 13.5, 10, 0.9, 0]
    D1 = [0, 0, 9, 10, 0.8, 0]

    def correct(self, dets):
        r = rec(dets, self.L)
        iou = er.box_iou(r["lboxes"], r["dets"][:, :4])
        return er.match_predictions(r["dets"][:, 5], r["lcls"], iou), iou

    def test_crowded_ultralytics_order(self):
        c, iou = self.correct([self.D0, self.D1])
        self.assertAlmostEqual(float(iou[0, 0]), 85 / 135, places=6)
        self.assertAlmostEqual(float(iou[1, 0]), 75 / 145, places=6)
        self.assertEqual(float(iou[0, 1]), float(np.float32(0.9)))
        # t=0.50: pairs by IoU D1-L0 .9, D0-L0 .63, D0-L1 .517; first per detection:
        # D0->L0, D1->L0; then first per label in detection order: L0->D0. D1 loses
        # although true greedy would give D1-L0 and D0-L1 (two TPs).
        # t=0.55, 0.60: same, D0 wins L0. t>=0.65: only D1-L0 left; 0.9f >= 0.9f.
        self.assertEqual(c[:, 0].tolist(), [True, False])
        self.assertEqual(c[0].tolist(), [True, True, True] + [False] * 7)
        self.assertEqual(c[1].tolist(), [False] * 3 + [True] * 6 + [False])

    def test_crowded_detection_index_matters(self):
        c, _ = self.correct([self.D1, self.D0])  # D1 first now
        # t=0.5: D1->L0, D0->L0; L0 -> first by index = D1. D0 unmatched (its L1 pair dropped).
        self.assertEqual(c[0].tolist(), [True] * 9 + [False])
        self.assertEqual(c[1].tolist(), [False] * 10)

    def test_wrong_class_never_matches(self):
        r = rec([[0, 0, 10, 10, 0.9, 1]], [[0, 0, 0, 10, 10]])
        iou = er.box_iou(r["lboxes"], r["dets"][:, :4])
        self.assertFalse(er.match_predictions(r["dets"][:, 5], r["lcls"], iou).any())

    def test_tie_takes_later_label(self):
        # det0 has equal IoU 0.6 with L0 and L1; det1 overlaps only L0 (0.7). The
        # reversed stable sort puts the later pair (L1, det0) before (L0, det0), so det0
        # takes L1 and det1 gets L0: two TPs (det0 taking L0 would leave det1 a FP).
        iou = np.array([[0.6, 0.7], [0.6, 0.0]], dtype=np.float32)  # labels x dets
        c = er.match_predictions([0, 0], [0, 0], iou)
        self.assertEqual(c[:, 0].tolist(), [True, True])
        # t=0.70: float32(0.7) equals the float32 threshold, so det1 still matches.
        self.assertEqual(c[:, 4].tolist(), [False, True])
        self.assertEqual(c[:, 5].tolist(), [False, False])


class Metrics(unittest.TestCase):
    def test_perfect_detection(self):
        res = er.evaluate([rec([[0, 0, 10, 10, 0.9, 0]], [[0, 0, 0, 10, 10]])], ["a"])
        self.assertAlmostEqual(res["map50"], 0.995, places=12)
        self.assertAlmostEqual(res["map50_95"], 0.995, places=12)
        self.assertEqual((res["precision"], res["recall"]), (1.0, 1.0))
        self.assertEqual((res["images"], res["instances"]), (1, 1))
        self.assertEqual(res["f1_index"], 0)

    def test_missed_label(self):
        res = er.evaluate([rec([[0, 0, 10, 10, 0.9, 0]],
                               [[0, 0, 0, 10, 10], [0, 50, 50, 60, 60]])], ["a"])
        self.assertAlmostEqual(res["map50"], 0.75, places=12)
        self.assertAlmostEqual(res["map50_95"], 0.75, places=12)
        self.assertEqual(res["precision"], 1.0)
        self.assertEqual(res["recall"], 0.5)
        self.assertEqual(res["instances"], 2)

    def test_duplicate_lower_conf(self):
        # TP at 0.9 then FP at 0.8: recall [1 1], precision [1 .5] -> AP 0.995 still.
        res = er.evaluate([rec([[0, 0, 10, 10, 0.9, 0], [0, 0, 10, 10, 0.8, 0]],
                               [[0, 0, 0, 10, 10]])], ["a"])
        self.assertAlmostEqual(res["map50"], 0.995, places=12)
        self.assertEqual(res["recall"], 1.0)
        self.assertTrue(0.5 < res["precision"] <= 1.0)

    def test_duplicate_first_index_is_tp(self):
        # Same box twice, the LOWER confidence first in the image: it takes the label
        # (detection-index order), so the sorted list is FP(0.9), TP(0.8):
        # mrec [0 0 1 1], mpre [1 0 .5 0] -> envelope .5 on [0, 1) -> 0.495 + 0.0025.
        res = er.evaluate([rec([[0, 0, 10, 10, 0.8, 0], [0, 0, 10, 10, 0.9, 0]],
                               [[0, 0, 0, 10, 10]])], ["a"])
        self.assertAlmostEqual(res["map50"], 0.4975, places=12)

    def test_wrong_class(self):
        res = er.evaluate([rec([[0, 0, 10, 10, 0.9, 1]], [[0, 0, 0, 10, 10]])], ["a", "b"])
        self.assertEqual((res["map50"], res["map50_95"], res["precision"], res["recall"]),
                         (0.0, 0.0, 0.0, 0.0))
        self.assertFalse(res["computed"])  # no TP anywhere: Ultralytics reports zeros
        self.assertEqual([c["name"] for c in res["classes"]], ["a"])  # only labelled classes

    def test_wrong_class_alongside_right_one(self):
        # A prediction of a class absent from the labels changes nothing.
        res = er.evaluate([rec([[0, 0, 10, 10, 0.9, 0], [0, 0, 10, 10, 0.95, 1]],
                               [[0, 0, 0, 10, 10]])], ["a", "b"])
        self.assertAlmostEqual(res["map50_95"], 0.995, places=12)

    def test_class_without_predictions(self):
        # Class 1 labelled but never predicted: AP 0, p = r = 0; means over 2 classes.
        res = er.evaluate([rec([[0, 0, 10, 10, 0.9, 0]],
                               [[0, 0, 0, 10, 10], [1, 20, 20, 30, 30]])], ["a", "b"])
        self.assertAlmostEqual(res["map50"], 0.4975, places=12)
        self.assertEqual((res["precision"], res["recall"]), (0.5, 0.5))
        b = res["classes"][1]
        self.assertEqual((b["name"], b["precision"], b["recall"], b["map50"]), ("b", 0.0, 0.0, 0.0))

    def test_empty_images(self):
        res = er.evaluate([rec([], []), rec([], []),
                           rec([[0, 0, 10, 10, 0.9, 0]], [[0, 0, 0, 10, 10]])], ["a"])
        self.assertEqual((res["images"], res["instances"]), (3, 1))
        self.assertAlmostEqual(res["map50"], 0.995, places=12)
        # A detection on an image without labels is a FP for its class: FP(.95), TP(.9).
        res = er.evaluate([rec([[0, 0, 10, 10, 0.95, 0]], []),
                           rec([[0, 0, 10, 10, 0.9, 0]], [[0, 0, 0, 10, 10]])], ["a"])
        self.assertAlmostEqual(res["map50"], 0.4975, places=12)
        self.assertEqual(res["classes"][0]["images"], 1)

    def test_no_labels_at_all(self):
        res = er.evaluate([rec([[0, 0, 10, 10, 0.9, 0]], []), rec([], [])], ["a"])
        self.assertEqual((res["images"], res["instances"], res["map50"]), (2, 0, 0.0))
        self.assertEqual(res["classes"], [])
        self.assertEqual(er.evaluate([], ["a"])["images"], 0)

    def test_partial_iou(self):
        # IoU 0.8 (x-shift): TP for thresholds <= 0.8 (7 of 10), AP 0.995 at those.
        res = er.evaluate([rec([[0, 0, 10, 10, 0.9, 0]], [[0, 1, 0, 11, 10]])], ["a"])
        iou = float(er.box_iou([[1, 0, 11, 10]], [[0, 0, 10, 10]])[0, 0])
        self.assertAlmostEqual(iou, 90 / 110, places=6)  # 0.818: passes 0.50 ... 0.80
        ap = res["classes"][0]["ap"]
        self.assertTrue(np.allclose(ap, [0.995] * 7 + [0.0] * 3, atol=1e-12, rtol=0))
        self.assertAlmostEqual(res["map50_95"], 0.995 * 7 / 10, places=12)

    def test_stable_conf_order(self):
        # Equal confidences: stable order keeps dump order (image order, then index).
        # Image 0: FP; image 1: TP; same conf -> FP first -> AP 0.4975; swapped -> 0.995.
        fp = rec([[50, 50, 60, 60, 0.5, 0]], [])
        tp = rec([[0, 0, 10, 10, 0.5, 0]], [[0, 0, 0, 10, 10]])
        self.assertAlmostEqual(er.evaluate([fp, tp])["map50"], 0.4975, places=12)
        self.assertAlmostEqual(er.evaluate([tp, fp])["map50"], 0.995, places=12)


class Labels(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        p = os.path.join(self.d, name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return p

    def test_label_path(self):
        self.assertEqual(er.label_path("/a/images/b/images/c.d.jpg"), "/a/images/b/labels/c.d.txt")
        self.assertEqual(er.label_path("/a/imgs/c.png"), "/a/imgs/c.txt")

    def test_missing_and_empty(self):
        lb, dup = er.read_labels(os.path.join(self.d, "nope.txt"), 80)
        self.assertEqual((lb.shape, dup), ((0, 5), 0))
        lb, dup = er.read_labels(self.write("e.txt", "\n\n"), 80)
        self.assertEqual((lb.shape, dup), ((0, 5), 0))

    def test_boxes_and_duplicates(self):
        p = self.write("b.txt", "3 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.1 0.1\n3 0.5 0.5 0.2 0.4\n")
        lb, dup = er.read_labels(p, 80)
        self.assertEqual(dup, 1)
        # duplicates removed via np.unique on rows -> rows come back sorted
        self.assertEqual(lb[:, 0].tolist(), [1.0, 3.0])
        cls, box = er.labels_to_pixels(lb, 640, 480)
        self.assertEqual(cls.tolist(), [1.0, 3.0])
        self.assertTrue(np.allclose(box[1], [256, 144, 384, 336], atol=1e-4))

    def test_segments(self):
        # > 6 fields: polygon -> min/max box; the 5-field row in the same file is then
        # ALSO read as a segment: points (0.5, 0.5), (0.2, 0.4) -> box 0.2..0.5, 0.4..0.5.
        p = self.write("s.txt", "2 0.1 0.2 0.5 0.2 0.3 0.6\n0 0.5 0.5 0.2 0.4\n")
        lb, _ = er.read_labels(p, 80)
        self.assertEqual(lb[:, 0].tolist(), [2.0, 0.0])
        self.assertTrue(np.allclose(lb[0, 1:], [0.3, 0.4, 0.4, 0.4], atol=1e-6))
        self.assertTrue(np.allclose(lb[1, 1:], [0.35, 0.45, 0.3, 0.1], atol=1e-6))

    def test_corrupt(self):
        for text in ("0 0.5 0.5 1.2 0.4\n", "0 0.5 -0.1 0.2 0.2\n", "80 0.5 0.5 0.1 0.1\n",
                     "0 0.5 0.5 0.2\n", "0 a 0.5 0.2 0.2\n", "0 0.1 0.1 0.2 0.2 0.3\n",
                     "0 0.1 0.1 0.2 0.2 0.3 0.3 0.4\n"):
            with self.assertRaises(er.LabelError, msg=text):
                er.read_labels(self.write("c.txt", text), 80)

    def test_clip_to_image(self):
        # cx 0.95, w 0.2 -> x2 = 1.05 W, clipped to W as Ultralytics' scale_boxes does.
        cls, box = er.labels_to_pixels(np.array([[0, 0.95, 0.5, 0.2, 0.2]]), 100, 50)
        self.assertTrue(np.allclose(box[0], [85, 20, 100, 30], atol=1e-4))


class CommandLine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        os.makedirs(os.path.join(d, "set", "images"))
        os.makedirs(os.path.join(d, "set", "labels"))
        with open(os.path.join(d, "set", "labels", "a.txt"), "w") as f:
            f.write("0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.1 0.1\n")
        with open(os.path.join(d, "set", "labels", "bad.txt"), "w") as f:
            f.write("0 2 2 2 2\n")
        # a.jpg 200x100: label 0 -> [50 25 150 75], label 1 -> [40 20 60 30]
        self.dump = os.path.join(d, "dump.json")
        with open(self.dump, "w") as f:
            json.dump({"model": "m.onnx", "data": "x", "split": "val", "names": ["p", "q"],
                       "images": [{"file": "set/images/a.jpg", "width": 200, "height": 100,
                                   "detections": [[50, 25, 150, 75, 0.9, 0],
                                                  [100, 50, 120, 60, 0.3, 1]]},
                                  {"file": "set/images/b.jpg", "width": 200, "height": 100,
                                   "detections": []},
                                  {"file": "set/images/bad.jpg", "width": 200, "height": 100,
                                   "detections": []}],
                       "skipped": [{"file": "set/images/c.jpg", "reason": "unreadable"}]}, f)

    def tearDown(self):
        self.tmp.cleanup()

    def expected(self):
        return {"precision": 0.5, "recall": 0.5, "map50": 0.4975, "map50_95": 0.4975,
                "images": 2, "instances": 2,
                "classes": [{"name": "p", "images": 1, "instances": 1, "precision": 1.0,
                             "recall": 1.0, "map50": 0.995, "map50_95": 0.995},
                            {"name": "q", "images": 1, "instances": 1, "precision": 0.0,
                             "recall": 0.0, "map50": 0.0, "map50_95": 0.0}]}

    def write(self, obj):
        p = os.path.join(self.tmp.name, "qb.json")
        with open(p, "w") as f:
            json.dump(obj, f)
        return p

    def test_table_and_json(self):
        out_json = os.path.join(self.tmp.name, "ref.json")
        rc, out, err = run_main([self.dump, "--json", out_json])
        self.assertEqual(rc, 0, err)
        self.assertIn("all", out)
        self.assertIn("0.49750", out)
        self.assertIn("dropped", err)  # bad.txt: coordinates > 1
        self.assertIn("skipped by qbench", err)
        with open(out_json) as f:
            j = json.load(f)
        self.assertEqual((j["images"], j["instances"]), (2, 2))
        self.assertAlmostEqual(j["map50"], 0.4975, places=12)

    def test_compare_agrees(self):
        rc, out, err = run_main([self.dump, "--compare", self.write(self.expected())])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("0 differ", out)

    def test_compare_differs(self):
        e = self.expected()
        e["classes"][0]["map50_95"] = 0.9949  # 1e-4 off, beyond --tol 5e-5
        e["classes"][1]["instances"] = 2
        rc, out, _ = run_main([self.dump, "--compare", self.write(e), "--tol", "5e-5"])
        self.assertEqual(rc, 1)
        self.assertIn("class[p].map50_95", out)
        self.assertIn("class[q].instances", out)
        e = self.expected()
        del e["classes"][1]
        rc, out, _ = run_main([self.dump, "--compare", self.write(e)])
        self.assertEqual(rc, 1)
        self.assertIn("missing", out)

    def test_bad_input(self):
        self.assertEqual(run_main([os.path.join(self.tmp.name, "none.json")])[0], 2)
        p = self.write({"names": ["a"], "images": [{"file": "x.jpg", "width": 0,
                                                    "height": 5, "detections": []}]})
        self.assertEqual(run_main([p])[0], 2)
        p = self.write({"names": ["a"], "images": [{"file": "x.jpg", "width": 5,
                                                    "height": 5, "detections": [[1, 2, 3]]}]})
        self.assertEqual(run_main([p])[0], 2)
        self.assertEqual(run_main([self.dump, "--compare", self.write([1, 2])])[0], 2)


if __name__ == "__main__":
    unittest.main(verbosity=1)
