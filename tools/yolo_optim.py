"""Optimiser, learning-rate schedule and weight EMA for tools/train.py (Ultralytics recipe).

- three parameter groups: biases (no weight decay; group 0, the one whose
  learning rate starts high in warm-up), weights (decay), BatchNorm weights
  (no decay); the decay is scaled by batch * accumulate / 64;
- 'auto' picks SGD (lr 0.01, momentum 0.9, Nesterov) for long runs (more
  than 10000 iterations of 64 images) and otherwise AdamW with lr
  0.002 * 5 / (4 + nc) (0.00125 for the four cone classes), betas (0.9,
  0.999); either way without the high bias lr of the warm-up;
- warm-up over max(3 epochs, 100 iterations): biases from warmup_bias_lr down,
  the other groups up from 0, to the epoch's scheduled rate; SGD momentum from
  0.8 up; the number of batches accumulated per step rises to 64 / batch;
- schedule per epoch: lr0 * lf(epoch), linear (1 - e/E)(1 - lrf) + lrf or
  cosine, lrf 0.01;
- EMA of all float parameters and buffers with decay 0.9999 (1 - exp(-updates / 2000)).

All schedules are functions of (epoch, iteration): nothing to restore on resume
but the optimiser state.
"""

import copy
import math

import numpy as np
import torch
import torch.nn as nn

NBS = 64  # nominal batch size


def param_groups(model):
    """(biases, weights with decay, BatchNorm weights)."""
    bias, decay, bn = [], [], []
    norms = tuple(v for k, v in nn.__dict__.items() if "Norm" in k and isinstance(v, type))
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                bias.append(p)
            elif isinstance(module, norms):
                bn.append(p)
            else:
                decay.append(p)
    return bias, decay, bn


def auto_optimizer(nc, iterations):
    """Ultralytics' 'auto' choice: (name, lr0, momentum); iterations counted in
    nominal batches (ceil(images / max(batch, 64)) * epochs)."""
    if iterations > 10000:
        return "SGD", 0.01, 0.9
    return "AdamW", round(0.002 * 5 / (4 + nc), 6), 0.9


def build_optimizer(model, name, lr, momentum, weight_decay):
    bias, decay, bn = param_groups(model)
    if name == "SGD":
        opt = torch.optim.SGD(bias, lr=lr, momentum=momentum, nesterov=True)
    elif name == "AdamW":
        opt = torch.optim.AdamW(bias, lr=lr, betas=(momentum, 0.999), weight_decay=0.0)
    else:
        raise ValueError(f"unknown optimizer {name} (SGD, AdamW or auto)")
    opt.add_param_group({"params": decay, "weight_decay": weight_decay})
    opt.add_param_group({"params": bn, "weight_decay": 0.0})
    for g in opt.param_groups:
        g["initial_lr"] = lr
    return opt


def lr_factor(epoch, epochs, lrf, cosine):
    """lf(epoch): the fraction of lr0 used in that epoch."""
    if cosine:
        return ((1 - math.cos(epoch * math.pi / epochs)) / 2) * (lrf - 1) + 1
    return max(1 - epoch / epochs, 0) * (1.0 - lrf) + lrf


class Schedule:
    """Learning rate, momentum and accumulation for every (epoch, iteration)."""

    def __init__(self, epochs, nb, batch, lrf=0.01, cosine=False, warmup_epochs=3.0,
                 warmup_bias_lr=0.1, warmup_momentum=0.8, momentum=0.937, nbs=NBS):
        self.epochs, self.lrf, self.cosine = epochs, lrf, cosine
        self.nw = max(round(warmup_epochs * nb), 100) if warmup_epochs > 0 else -1
        self.nbs = nbs
        self.base_accumulate = max(round(nbs / batch), 1)
        self.batch = batch
        self.warmup_bias_lr, self.warmup_momentum, self.momentum = warmup_bias_lr, warmup_momentum, momentum

    def accumulate(self, ni):
        if ni <= self.nw:
            return max(1, int(np.interp(ni, [0, self.nw], [1, self.nbs / self.batch]).round()))
        return self.base_accumulate

    def apply(self, optimizer, epoch, ni):
        """Set every group's lr (and SGD momentum) for iteration ni of epoch."""
        lf = lr_factor(epoch, self.epochs, self.lrf, self.cosine)
        for j, g in enumerate(optimizer.param_groups):
            target = g["initial_lr"] * lf
            if ni <= self.nw:
                start = self.warmup_bias_lr if j == 0 else 0.0
                g["lr"] = float(np.interp(ni, [0, self.nw], [start, target]))
                if "momentum" in g:
                    g["momentum"] = float(np.interp(ni, [0, self.nw], [self.warmup_momentum, self.momentum]))
            else:
                g["lr"] = target
                if "momentum" in g:
                    g["momentum"] = self.momentum


class ModelEMA:
    """Exponential moving average of a model's weights and buffers."""

    def __init__(self, model, decay=0.9999, tau=2000, updates=0):
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.updates = updates
        self.decay_fn = lambda x: decay * (1 - math.exp(-x / tau))

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay_fn(self.updates)
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
