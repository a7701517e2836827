#!/usr/bin/env python3
"""Train a yolo_arch detector (YOLO12n, YOLO11n, YOLOv8n) and export it to ONNX.

    python3 tools/train.py --arch yolo12 --data DIR --epochs E --imgsz 640 --batch 64 \\
        --out runs/NAME [--resume] [--time-limit SECONDS] [--export model.onnx]

DIR is `qbench demo-data` output, raw (raw.json, <split>.rgb, <split>.labels)
or Ultralytics layout (data.yaml, images/, labels/); splits train and val.
Prints per-epoch losses, time and val metrics, writes OUT/results.csv,
OUT/last.pt (everything needed to resume; last.pt.part0, .part1 ... with
--portable-ckpt), OUT/state.json and, at the end,
OUT/metrics.json. With --time-limit the run checkpoints and stops before the
limit; run the same command with --resume to go on (a run that finds training
complete only validates and exports). See docs/TRAINING.md.
"""

import argparse
import copy
import csv
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yolo_arch  # noqa: E402
import yolo_ckpt  # noqa: E402
from yolo_augment import AugmentConfig, train_batch  # noqa: E402
from yolo_data import ImageCache, load_split  # noqa: E402
from yolo_loss import DetectionLoss  # noqa: E402
from yolo_metrics import fitness  # noqa: E402
from yolo_optim import NBS, ModelEMA, Schedule, auto_optimizer, build_optimizer  # noqa: E402
from yolo_val import validate  # noqa: E402

T_START = time.time()
# options that define the run: taken from the checkpoint on --resume
RUN_OPTIONS = ("arch", "scale", "width", "depth", "max_channels", "epochs", "imgsz", "batch", "optimizer",
               "lr0", "lrf", "momentum", "weight_decay", "cos_lr", "warmup_epochs", "warmup_bias_lr",
               "close_mosaic", "nbs", "seed", "box", "cls", "dfl", "hsv_h", "hsv_s", "hsv_v", "degrees",
               "translate", "scale_aug", "fliplr", "mosaic")
CSV_FIELDS = ("epoch", "time", "train/box_loss", "train/cls_loss", "train/dfl_loss", "instances",
              "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
              "lr/pg0", "lr/pg1", "lr/pg2")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--arch", default="yolo12", choices=sorted(yolo_arch.BUILDERS), help="architecture (default yolo12)")
    a("--scale", default="n", help="model scale n/s/m/l/x (default n)")
    a("--width", type=float, help="override the width multiple (narrow test models)")
    a("--depth", type=float, help="override the depth multiple")
    a("--max-channels", type=int, help="override the channel cap")
    a("--data", required=True, help="dataset folder (raw or Ultralytics layout) or data.yaml")
    a("--epochs", type=int, default=100)
    a("--imgsz", type=int, default=640)
    a("--batch", type=int, default=64)
    a("--out", required=True, help="run folder (checkpoint, results.csv)")
    a("--resume", action="store_true", help="continue from OUT/last.pt when it exists")
    a("--time-limit", type=float, default=0, help="stop (and checkpoint) before this many seconds")
    a("--export", help="write the final EMA model to this ONNX file")
    a("--export-batch", type=int, default=2, help="static batch of the ONNX model (default 2)")
    a("--export-opset", type=int, default=17)
    a("--names", help="comma-separated class names for the export (default: the dataset's)")
    a("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    a("--amp", default="auto", choices=("auto", "bf16", "fp16", "off"),
      help="mixed precision on CUDA (auto: bf16 where supported)")
    a("--cache", default="device", choices=("device", "cpu"), help="where the letterboxed images live")
    a("--optimizer", default="auto", choices=("auto", "SGD", "AdamW"))
    a("--lr0", type=float, help="initial learning rate (default: 0.01 SGD; auto picks for AdamW)")
    a("--lrf", type=float, default=0.01, help="final lr as a fraction of lr0")
    a("--momentum", type=float, default=0.937, help="SGD momentum / AdamW beta1 (auto: 0.9 for AdamW)")
    a("--weight-decay", type=float, default=5e-4)
    a("--cos-lr", action="store_true", help="cosine instead of linear decay")
    a("--warmup-epochs", type=float, default=3.0)
    a("--warmup-bias-lr", type=float, default=0.1)
    a("--close-mosaic", type=int, default=10, help="last epochs without mosaic")
    a("--nbs", type=int, default=NBS, help="nominal batch: gradients accumulate to this many images (64)")
    a("--box", type=float, default=7.5)
    a("--cls", type=float, default=0.5)
    a("--dfl", type=float, default=1.5)
    a("--hsv-h", type=float, default=0.015)
    a("--hsv-s", type=float, default=0.7)
    a("--hsv-v", type=float, default=0.4)
    a("--degrees", type=float, default=0.0)
    a("--translate", type=float, default=0.1)
    a("--scale-aug", type=float, default=0.5, help="random scale range 1 +- this")
    a("--fliplr", type=float, default=0.5)
    a("--mosaic", type=float, default=1.0, help="mosaic probability")
    a("--seed", type=int, default=0)
    a("--val-every", type=int, default=10, help="validate every N epochs (0: only at the end)")
    a("--val-batch", type=int, default=32)
    a("--save-period", type=float, default=2.0, help="checkpoint at least every N minutes")
    a("--portable-ckpt", action="store_true",
      help="compact checkpoint in parts of at most 15 MiB (for the GPU machine's file limits)")
    a("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    return ap.parse_args(argv)


# --------------------------------------------------------------------------
# helpers


def elapsed():
    return time.time() - T_START


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def pick_amp(name, device):
    if device.type != "cuda" or name == "off":
        return None
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if name == "bf16" else torch.float16


def make_scaler(enabled):
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def build_model(args, nc):
    torch.manual_seed(args.seed)
    kw = {k: getattr(args, k) for k in ("width", "depth", "max_channels") if getattr(args, k) is not None}
    return yolo_arch.BUILDERS[args.arch](nc=nc, scale=args.scale, **kw)


def write_json(obj, path):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def write_results(history, path):
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for row in history:
            w.writerow({k: ("" if row.get(k) is None else
                            (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k])) for k in CSV_FIELDS})
    os.replace(path + ".tmp", path)


def fmt_metrics(m):
    return (f"P {m['P']:.3f}  R {m['R']:.3f}  mAP50 {m['mAP50']:.4f}  mAP50-95 {m['mAP50-95']:.4f}"
            f"  ({m['instances']} instances, {m['seconds']:.1f} s)")


# --------------------------------------------------------------------------
# the trainer


class Trainer:
    def __init__(self, args, ckpt=None):
        self.args = args
        self.device = pick_device(args.device)
        self.amp = pick_amp(args.amp, self.device)
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        cache_dev = self.device if args.cache == "device" else torch.device("cpu")
        t0 = time.time()
        splits = {name: load_split(args.data, name) for name in ("train", "val")}
        for name, split in splits.items():
            print(f"{name}: {split.source}")
        self.train_data = ImageCache(splits["train"], args.imgsz, cache_dev)
        self.val_data = ImageCache(splits["val"], args.imgsz, cache_dev)
        self.names = args.names.split(",") if args.names else self.train_data.names
        nc = len(self.names)
        print(f"data: train {len(self.train_data)} images ({self.train_data.num_instances()} boxes), "
              f"val {len(self.val_data)} images ({self.val_data.num_instances()} boxes), {nc} classes "
              f"{self.names}, letterboxed to {args.imgsz} in {time.time() - t0:.1f} s")

        self.model = build_model(args, nc).to(self.device)
        self.model.names = dict(enumerate(self.names))
        nparams = sum(p.numel() for p in self.model.parameters())
        self.batch = min(args.batch, len(self.train_data))
        self.nb = max(1, len(self.train_data) // self.batch)  # the last partial batch is dropped
        self.schedule = Schedule(args.epochs, self.nb, self.batch, args.lrf, args.cos_lr, args.warmup_epochs,
                                 args.warmup_bias_lr, 0.8, args.momentum, args.nbs)
        name, lr0, momentum = args.optimizer, args.lr0, args.momentum
        if name == "auto":
            name, lr_fit, momentum = auto_optimizer(
                nc, math.ceil(len(self.train_data) / max(self.batch, args.nbs)) * args.epochs)
            lr0 = lr0 or lr_fit
            self.schedule.warmup_bias_lr = 0.0
        lr0 = lr0 or 0.01
        decay = args.weight_decay * self.batch * self.schedule.base_accumulate / args.nbs
        self.optimizer = build_optimizer(self.model, name, lr0, momentum, decay)
        self.scaler = make_scaler(self.amp == torch.float16)
        self.ema = ModelEMA(self.model)
        self.loss_fn = DetectionLoss(self.model, args.box, args.cls, args.dfl)
        self.aug = AugmentConfig(args.hsv_h, args.hsv_s, args.hsv_v, args.degrees, args.translate,
                                 args.scale_aug, args.fliplr, args.mosaic)
        amp_name = {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp]
        print(f"model: {args.arch}{args.scale} {nparams / 1e6:.3f} M params; {name} lr0 {lr0:g} momentum "
              f"{momentum} decay {decay:g}; batch {self.batch} x {self.nb} per epoch, accumulate "
              f"{self.schedule.base_accumulate}; device {self.device}, amp {amp_name}")

        # progress (all of it is in the checkpoint)
        self.epoch, self.batch_i = 0, 0
        self.last_opt_step = -1
        self.epoch_loss = torch.zeros(3, device=self.device)  # summed on the device: no sync per step
        self.epoch_inst = 0
        self.history = []
        self.best_fitness = None
        self.train_seconds = 0.0
        self.val_seconds = 0.0
        if ckpt is not None:
            self.load(ckpt)

    # -- checkpoint -------------------------------------------------------

    def state(self):
        return {
            "version": 1,
            "args": {k: getattr(self.args, k) for k in RUN_OPTIONS},
            "names": self.names,
            "epoch": self.epoch, "batch_i": self.batch_i, "last_opt_step": self.last_opt_step,
            "epoch_loss": self.epoch_loss.cpu(), "epoch_inst": self.epoch_inst,
            "model": self.model.state_dict(),
            "ema": self.ema.ema.state_dict(), "ema_updates": self.ema.updates,
            "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
            # gradients accumulated since the last optimiser step (none when it just stepped)
            "grads": {k: p.grad for k, p in self.model.named_parameters() if p.grad is not None},
            "history": self.history, "best_fitness": self.best_fitness,
            "train_seconds": self.train_seconds, "val_seconds": self.val_seconds,
            "data": {"train": len(self.train_data), "val": len(self.val_data)},
            "torch": str(torch.__version__),
        }

    def load(self, ck):
        self.model.load_state_dict(ck["model"])
        self.ema.ema.load_state_dict(ck["ema"])
        self.ema.updates = ck["ema_updates"]
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scaler.load_state_dict(ck["scaler"])
        for k, p in self.model.named_parameters():
            if k in ck["grads"]:
                p.grad = ck["grads"][k].to(p.device)
        self.epoch, self.batch_i, self.last_opt_step = ck["epoch"], ck["batch_i"], ck["last_opt_step"]
        self.epoch_loss, self.epoch_inst = ck["epoch_loss"].to(self.device), ck["epoch_inst"]
        self.history, self.best_fitness = ck["history"], ck["best_fitness"]
        self.train_seconds, self.val_seconds = ck["train_seconds"], ck["val_seconds"]
        data = {"train": len(self.train_data), "val": len(self.val_data)}
        if ck["data"] != data:
            print(f"WARNING: the checkpoint was trained on {ck['data']} images, this data has {data}")
        print(f"resumed from {self.out}: epoch {self.epoch + 1}, batch {self.batch_i}/{self.nb}"
              f", {self.train_seconds:.0f} s trained so far")

    def save(self, why):
        t0 = time.time()
        paths, size = yolo_ckpt.save(self.state(), self.out, self.args.portable_ckpt)
        done = self.epoch >= self.args.epochs
        write_json({"epoch": self.epoch, "batch": self.batch_i, "epochs": self.args.epochs,
                    "training_done": done, "train_seconds": round(self.train_seconds, 1),
                    "saved_because": why}, os.path.join(self.out, "state.json"))
        write_results(self.history, os.path.join(self.out, "results.csv"))
        where = paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} parts)"
        print(f"checkpoint ({why}): {where} {size / 1e6:.1f} MB in {time.time() - t0:.1f} s", flush=True)

    # -- training ---------------------------------------------------------

    def time_left(self):
        return math.inf if not self.args.time_limit else self.args.time_limit - elapsed()

    def train_step(self, ni, indices, rng, use_mosaic):
        imgs, targets = train_batch(self.train_data, indices, rng, self.aug, use_mosaic, self.device)
        if self.amp is None:
            preds = self.model(imgs)
        else:
            with torch.autocast(device_type=self.device.type, dtype=self.amp):
                preds = self.model(imgs)
        loss, items = self.loss_fn(preds, targets)
        self.scaler.scale(loss).backward()
        if ni - self.last_opt_step >= self.schedule.accumulate(ni):
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=10.0)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.ema.update(self.model)
            self.last_opt_step = ni
        return items, targets.shape[0]

    def run_epoch(self):
        """Train the rest of self.epoch; False when stopped by the time limit."""
        a = self.args
        use_mosaic = self.epoch < a.epochs - a.close_mosaic
        perm = np.random.default_rng([a.seed, self.epoch]).permutation(len(self.train_data))
        self.model.train()
        last_save = time.time()
        step_time = 0.0
        t_epoch = t_start = time.time()  # t_epoch: since time was last added to train_seconds
        start_i = self.batch_i
        while self.batch_i < self.nb:
            if self.time_left() < 2 * step_time + 10:
                self.train_seconds += time.time() - t_epoch
                self.save("time limit")
                return False
            t0 = time.time()
            i = self.batch_i
            ni = i + self.nb * self.epoch
            self.schedule.apply(self.optimizer, self.epoch, ni)
            rng = np.random.default_rng([a.seed, self.epoch, i])
            items, ninst = self.train_step(ni, perm[i * self.batch:(i + 1) * self.batch], rng, use_mosaic)
            self.epoch_loss += items
            self.epoch_inst += ninst
            self.batch_i += 1
            step_time = max(0.8 * step_time, time.time() - t0) if step_time else time.time() - t0
            if time.time() - last_save > a.save_period * 60 and self.batch_i < self.nb:
                self.train_seconds += time.time() - t_epoch
                t_epoch = time.time()
                self.save("periodic")
                last_save = time.time()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.train_seconds += time.time() - t_epoch
        dt = time.time() - t_start
        self.epoch_stats = (dt, (self.nb - start_i) * self.batch / max(dt, 1e-9))
        return True

    def end_epoch(self):
        a = self.args
        nb = self.nb
        loss = (self.epoch_loss / nb).tolist()
        if not all(math.isfinite(x) for x in loss):
            print(f"WARNING: non-finite loss in epoch {self.epoch + 1}")
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        dt, speed = self.epoch_stats
        mem = f", {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if self.device.type == "cuda" else ""
        print(f"epoch {self.epoch + 1}/{a.epochs}  box {loss[0]:.4f}  cls {loss[1]:.4f}  dfl {loss[2]:.4f}  "
              f"inst/img {self.epoch_inst / (nb * self.batch):.1f}  lr {lrs[1]:.3g}  {dt:.1f} s "
              f"({speed:.0f} img/s{mem})  total {self.train_seconds:.0f} s", flush=True)
        row = {"epoch": self.epoch + 1, "time": round(self.train_seconds, 1), "train/box_loss": loss[0],
               "train/cls_loss": loss[1], "train/dfl_loss": loss[2], "instances": self.epoch_inst,
               "lr/pg0": lrs[0], "lr/pg1": lrs[1], "lr/pg2": lrs[2]}
        last = self.epoch + 1 == a.epochs
        if not last and a.val_every and (self.epoch + 1) % a.val_every == 0:
            if self.time_left() > 1.5 * self.val_seconds + 20:
                self.add_val(row, self.val())
            else:
                print("  (validation skipped: too close to the time limit)")
        self.history.append(row)
        self.epoch += 1
        self.batch_i = 0
        self.epoch_loss.zero_()
        self.epoch_inst = 0

    def val(self):
        m = validate(self.ema.ema, self.val_data, self.device, self.args.val_batch)
        self.val_seconds = m["seconds"]
        print("  val: " + fmt_metrics(m), flush=True)
        f = fitness(m)
        if self.best_fitness is None or f > self.best_fitness:
            self.best_fitness = f
        return m

    @staticmethod
    def add_val(row, m):
        row.update({"metrics/precision(B)": m["P"], "metrics/recall(B)": m["R"],
                    "metrics/mAP50(B)": m["mAP50"], "metrics/mAP50-95(B)": m["mAP50-95"]})

    def finish(self):
        """Final validation of the EMA model, metrics.json, optional export."""
        a = self.args
        m = self.val()
        if self.history and self.history[-1]["epoch"] == a.epochs:
            self.add_val(self.history[-1], m)
        write_results(self.history, os.path.join(self.out, "results.csv"))
        per = m.pop("per_class")
        for name, c in per.items():
            print(f"    {name:20s} {c['instances']:6d}  P {c['P']:.3f}  R {c['R']:.3f}  "
                  f"mAP50 {c['mAP50']:.4f}  mAP50-95 {c['mAP50-95']:.4f}")
        write_json({**m, "per_class": per, "epochs": a.epochs, "train_seconds": round(self.train_seconds, 1),
                    "arch": a.arch, "scale": a.scale, "imgsz": a.imgsz, "seed": a.seed},
                   os.path.join(self.out, "metrics.json"))
        if a.export:
            export(self.ema.ema, a.export, a, self.names, m, self.val_data)

    def fit(self):
        a = self.args
        while self.epoch < a.epochs:
            if not self.run_epoch():
                return False
            self.end_epoch()
            self.save("epoch end")
        if self.time_left() < 1.5 * self.val_seconds + (60 if a.export else 10):
            print("training complete; too close to the time limit for the final validation: "
                  "run again with --resume")
            return False
        self.finish()
        self.save("final validation")
        return True


# --------------------------------------------------------------------------
# export


def export(model, path, args, names, m, val_data):
    t0 = time.time()
    desc = (f"qbench {args.arch}{args.scale} cone detector, tools/train.py: {args.epochs} epochs at "
            f"{args.imgsz}, seed {args.seed}; val mAP50 {m['mAP50']:.4f} mAP50-95 {m['mAP50-95']:.4f}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        used = yolo_arch.export_onnx(model, path, imgsz=(args.imgsz, args.imgsz), batch=args.export_batch,
                                     opset=args.export_opset, names=names, description=desc)
    print(f"exported {path} ({os.path.getsize(path) / 1e6:.2f} MB, opset {args.export_opset}, batch "
          f"{args.export_batch}, {used} exporter) in {time.time() - t0:.1f} s")
    try:
        import onnxruntime as ort
    except ImportError:
        print("  (onnxruntime not installed: export not checked)")
        return
    x = val_data.batch(0, args.export_batch, torch.device("cpu"))
    if x.shape[0] < args.export_batch:
        x = x.repeat(args.export_batch, 1, 1, 1)[:args.export_batch]
    with torch.no_grad():
        ref = copy.deepcopy(model).float().cpu().eval()(x).double().numpy()
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})[0]
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    print(f"  onnxruntime vs torch on {args.export_batch} val images: output {list(got.shape)}, rel L2 {rel:.2e}")


# --------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = None
    if yolo_ckpt.exists(args.out):
        if not args.resume:
            print(f"{args.out} holds a checkpoint: add --resume to continue it, or choose another --out",
                  file=sys.stderr)
            return 2
        ckpt = yolo_ckpt.load(args.out)
        for k, v in ckpt["args"].items():
            if getattr(args, k) != v:
                print(f"resume: {k} = {v!r} from the checkpoint (command line: {getattr(args, k)!r})")
            setattr(args, k, v)
    elif args.resume:
        print(f"resume: no checkpoint in {args.out} yet, starting a new run")
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}")
    trainer = Trainer(args, ckpt)
    del ckpt
    done = trainer.fit()
    print(("DONE" if done else "STOPPED (resume with --resume)") + f" after {elapsed():.0f} s in this run, "
          f"{trainer.train_seconds:.0f} s of training in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
