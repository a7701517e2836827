"""YOLOv8 / YOLO11 / YOLO12 detection models in plain PyTorch.

Written for qbench from the published architectures (the Ultralytics model
configs and papers): the layer lists, the scaling rules and the module layout
follow them, so that the state_dict keys and the ONNX node names look like an
Ultralytics export (`/model.22/cv2.0/cv2.0.0/conv/Conv`). Used to make test
and benchmark models and, later, to train small detectors.

    model = yolo11(nc=4, scale="n")              # official n-scale widths
    tiny = yolo12(nc=4, scale="n", width=0.0625)  # same blocks, narrower
    export_onnx(model, "m.onnx", imgsz=(320, 320), batch=2, opset=17,
                names=["blue_cone", ...])

Inference output: [B, 4 + nc, N], rows cx, cy, w, h in input pixels, then the
sigmoid class scores; N = sum of H*W over the strides 8, 16, 32.
"""

import copy
import math

import torch
import torch.nn as nn

# --------------------------------------------------------------------------
# building blocks


def autopad(k, p=None, d=1):
    """'Same' padding for odd kernels (with dilation)."""
    if d > 1:
        k = d * (k - 1) + 1
    return k // 2 if p is None else p


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + SiLU; act=False leaves the activation out."""

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse(self):
        """Fold the BatchNorm into the convolution (inference only)."""
        if isinstance(self.bn, nn.Identity):
            return
        conv, bn = self.conv, self.bn
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
        fused.to(conv.weight.device)
        self.conv = fused
        self.bn = nn.Identity()


class DWConv(Conv):
    """Depthwise convolution: groups = gcd(c1, c2)."""

    def __init__(self, c1, c2, k=1, s=1, d=1, act=True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class Concat(nn.Module):
    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat(x, self.d)


class Bottleneck(nn.Module):
    """Two convolutions with an optional residual (when c1 == c2)."""

    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block with two halves; every bottleneck output is kept and concatenated."""

    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=(3, 3), e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class C3(nn.Module):
    """CSP bottleneck with three convolutions."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(1, 3), e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k(C3):
    """C3 with k x k bottlenecks."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5, k=3):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(k, k), e=1.0) for _ in range(n)))


class C3k2(C2f):
    """C2f whose inner blocks are C3k (c3k=True) or plain bottlenecks."""

    def __init__(self, c1, c2, n=1, c3k=False, e=0.5, g=1, shortcut=True):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(
            C3k(self.c, self.c, 2, shortcut, g) if c3k else Bottleneck(self.c, self.c, shortcut, g)
            for _ in range(n))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained k x k max pools."""

    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


# --------------------------------------------------------------------------
# YOLO11 attention (C2PSA)


class Attention(nn.Module):
    """Multi-head self-attention over all H*W positions, with a depthwise
    3x3 positional term on the values; keys/queries are attn_ratio narrower."""

    def __init__(self, dim, num_heads=8, attn_ratio=0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim ** -0.5
        nh_kd = self.key_dim * num_heads
        self.qkv = Conv(dim, dim + nh_kd * 2, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)

    def forward(self, x):
        B, C, H, W = x.shape
        N = H * W
        qkv = self.qkv(x)
        q, k, v = qkv.view(B, self.num_heads, self.key_dim * 2 + self.head_dim, N).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = (q.transpose(-2, -1) @ k) * self.scale
        attn = attn.softmax(dim=-1)
        x = (v @ attn.transpose(-2, -1)).view(B, C, H, W) + self.pe(v.reshape(B, C, H, W))
        return self.proj(x)


class PSABlock(nn.Module):
    """Attention then a 2x pointwise feed-forward, each with a residual."""

    def __init__(self, c, attn_ratio=0.5, num_heads=4, shortcut=True):
        super().__init__()
        self.attn = Attention(c, attn_ratio=attn_ratio, num_heads=num_heads)
        self.ffn = nn.Sequential(Conv(c, c * 2, 1), Conv(c * 2, c, 1, act=False))
        self.add = shortcut

    def forward(self, x):
        x = x + self.attn(x) if self.add else self.attn(x)
        x = x + self.ffn(x) if self.add else self.ffn(x)
        return x


def _heads(c, per_head):
    """The configs' head count c // per_head, but at least one head (narrow test models)."""
    n = max(1, c // per_head)
    assert c % n == 0, f"{c} channels do not split into {n} heads"
    return n


class C2PSA(nn.Module):
    """Split in two halves, PSA blocks on one, concatenate, 1x1 conv."""

    def __init__(self, c1, c2, n=1, e=0.5):
        super().__init__()
        assert c1 == c2, "C2PSA keeps the channel count"
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, attn_ratio=0.5, num_heads=_heads(self.c, 64))
                                 for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        b = self.m(b)
        return self.cv2(torch.cat((a, b), 1))


# --------------------------------------------------------------------------
# YOLO12 area attention (A2C2f)


class AAttn(nn.Module):
    """Area attention: the H*W positions (row-major) are cut into `area` equal
    consecutive stripes and each stripe attends only within itself; plus a
    depthwise 7x7 positional term on the values."""

    def __init__(self, dim, num_heads, area=1):
        super().__init__()
        self.area = area
        self.num_heads = num_heads
        self.head_dim = head_dim = dim // num_heads
        all_head_dim = head_dim * num_heads
        self.qkv = Conv(dim, all_head_dim * 3, 1, act=False)
        self.proj = Conv(all_head_dim, dim, 1, act=False)
        self.pe = Conv(all_head_dim, dim, 7, 1, 3, g=dim, act=False)

    def forward(self, x):
        B, C, H, W = x.shape
        N = H * W
        qkv = self.qkv(x).view(B, -1, N).transpose(1, 2)  # view, not flatten: no Shape op in ONNX
        if self.area > 1:
            qkv = qkv.reshape(B * self.area, N // self.area, C * 3)
            B, N, _ = qkv.shape
        q, k, v = qkv.view(B, N, self.num_heads, self.head_dim * 3).permute(0, 2, 3, 1).split(
            [self.head_dim, self.head_dim, self.head_dim], dim=2)
        attn = (q.transpose(-2, -1) @ k) * (self.head_dim ** -0.5)
        attn = attn.softmax(dim=-1)
        x = v @ attn.transpose(-2, -1)
        x = x.permute(0, 3, 1, 2)
        v = v.permute(0, 3, 1, 2)
        if self.area > 1:
            x = x.reshape(B // self.area, N * self.area, C)
            v = v.reshape(B // self.area, N * self.area, C)
            B, N, _ = x.shape
        x = x.reshape(B, H, W, C).permute(0, 3, 1, 2).contiguous()
        v = v.reshape(B, H, W, C).permute(0, 3, 1, 2).contiguous()
        x = x + self.pe(v)
        return self.proj(x)


class ABlock(nn.Module):
    """Area attention then a pointwise MLP (mlp_ratio), each with a residual."""

    def __init__(self, dim, num_heads, mlp_ratio=1.2, area=1):
        super().__init__()
        self.attn = AAttn(dim, num_heads=num_heads, area=area)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(Conv(dim, hidden, 1), Conv(hidden, dim, 1, act=False))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class A2C2f(nn.Module):
    """C2f-style block whose inner units are pairs of ABlocks (a2=True) or C3k;
    with residual=True the output is x + gamma * y (layer scale)."""

    def __init__(self, c1, c2, n=1, a2=True, area=1, residual=False, mlp_ratio=2.0, e=0.5, g=1,
                 shortcut=True):
        super().__init__()
        c_ = int(c2 * e)
        num_heads = _heads(c_, 32)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv((1 + n) * c_, c2, 1)
        self.gamma = nn.Parameter(0.01 * torch.ones(c2)) if a2 and residual else None
        self.m = nn.ModuleList(
            nn.Sequential(*(ABlock(c_, num_heads, mlp_ratio, area) for _ in range(2)))
            if a2 else C3k(c_, c_, 2, shortcut, g)
            for _ in range(n))

    def forward(self, x):
        y = [self.cv1(x)]
        for m in self.m:
            y.append(m(y[-1]))
        y = self.cv2(torch.cat(y, 1))
        if self.gamma is not None:
            return x + self.gamma.view(-1, len(self.gamma), 1, 1) * y
        return y


# --------------------------------------------------------------------------
# detection head


class DFL(nn.Module):
    """Distribution focal loss integral: expectation over reg_max bins."""

    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def make_anchors(feats, strides, offset=0.5):
    """Cell centres (in grid units) and the stride of every position, level by level."""
    points, stride_t = [], []
    dtype, device = feats[0].dtype, feats[0].device
    for f, s in zip(feats, strides):
        h, w = f.shape[2], f.shape[3]
        sx = torch.arange(w, device=device, dtype=dtype) + offset
        sy = torch.arange(h, device=device, dtype=dtype) + offset
        sy, sx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_t.append(torch.full((h * w, 1), float(s), dtype=dtype, device=device))
    return torch.cat(points), torch.cat(stride_t)


def dist2bbox(distance, anchor_points, xywh=True, dim=-1):
    """(left, top, right, bottom) distances -> (cx, cy, w, h) or (x1, y1, x2, y2)."""
    lt, rb = distance.split((2, 2), dim)
    x1y1 = anchor_points - lt
    x2y2 = anchor_points + rb
    if xywh:
        return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)
    return torch.cat((x1y1, x2y2), dim)


class Detect(nn.Module):
    """Decoupled anchor-free head: per level a box branch (4 * reg_max DFL
    logits) and a class branch. legacy=True is YOLOv8's class branch (two 3x3
    convs); YOLO11/12 use depthwise 3x3 + pointwise pairs."""

    def __init__(self, nc=80, ch=(), legacy=True, reg_max=16):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.reg_max = reg_max
        self.no = nc + reg_max * 4
        self.legacy = legacy
        self.stride = torch.zeros(self.nl)
        c2 = max(16, ch[0] // 4, reg_max * 4)
        c3 = max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for x in ch)
        if legacy:
            self.cv3 = nn.ModuleList(
                nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        else:
            self.cv3 = nn.ModuleList(
                nn.Sequential(nn.Sequential(DWConv(x, x, 3), Conv(x, c3, 1)),
                              nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
                              nn.Conv2d(c3, nc, 1))
                for x in ch)
        self.dfl = DFL(reg_max) if reg_max > 1 else nn.Identity()
        self._shape = None
        self._anchors = None
        self._strides = None
        self.dynamic = False  # export: anchors computed in the graph from the input shape

    def forward(self, x):
        x = [torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1) for i in range(self.nl)]
        if self.training:
            return x  # raw per-level maps [B, 4*reg_max + nc, H, W] for the loss
        return self.decode(x)

    def decode(self, x):
        shape = tuple(x[0].shape)
        if self.dynamic or self._shape != shape or self._anchors is None or self._anchors.device != x[0].device:
            # cached: an export traces them as constants (run one forward first)
            a, s = make_anchors(x, self.stride, 0.5)
            self._anchors, self._strides = a.transpose(0, 1), s.transpose(0, 1)
            self._shape = shape
        x_cat = torch.cat([xi.view(shape[0], self.no, -1) for xi in x], 2)
        box, cls = x_cat.split((self.reg_max * 4, self.nc), 1)
        dbox = dist2bbox(self.dfl(box), self._anchors.unsqueeze(0), xywh=True, dim=1) * self._strides
        return torch.cat((dbox, cls.sigmoid()), 1)

    @torch.no_grad()
    def bias_init(self, imgsz=640):
        """Box logits start at 1.0; class logits at the prior of ~5 objects per image."""
        for a, b, s in zip(self.cv2, self.cv3, self.stride):
            a[-1].bias.data[:] = 1.0
            b[-1].bias.data[: self.nc] = math.log(5 / self.nc / (imgsz / float(s)) ** 2)


# --------------------------------------------------------------------------
# architectures: (from, repeats, module, args) as in the published configs

_UP = ("Upsample", [None, 2, "nearest"])

ARCHS = {
    "yolov8": {
        "scales": {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768),
                   "l": (1.00, 1.00, 512), "x": (1.00, 1.25, 512)},
        "layers": [
            (-1, 1, "Conv", [64, 3, 2]),  # 0 P1/2
            (-1, 1, "Conv", [128, 3, 2]),  # 1 P2/4
            (-1, 3, "C2f", [128, True]),
            (-1, 1, "Conv", [256, 3, 2]),  # 3 P3/8
            (-1, 6, "C2f", [256, True]),
            (-1, 1, "Conv", [512, 3, 2]),  # 5 P4/16
            (-1, 6, "C2f", [512, True]),
            (-1, 1, "Conv", [1024, 3, 2]),  # 7 P5/32
            (-1, 3, "C2f", [1024, True]),
            (-1, 1, "SPPF", [1024, 5]),  # 9
            (-1, 1) + _UP,
            ([-1, 6], 1, "Concat", [1]),
            (-1, 3, "C2f", [512]),  # 12
            (-1, 1) + _UP,
            ([-1, 4], 1, "Concat", [1]),
            (-1, 3, "C2f", [256]),  # 15 P3 out
            (-1, 1, "Conv", [256, 3, 2]),
            ([-1, 12], 1, "Concat", [1]),
            (-1, 3, "C2f", [512]),  # 18 P4 out
            (-1, 1, "Conv", [512, 3, 2]),
            ([-1, 9], 1, "Concat", [1]),
            (-1, 3, "C2f", [1024]),  # 21 P5 out
            ([15, 18, 21], 1, "Detect", ["nc"]),
        ],
    },
    "yolo11": {
        "scales": {"n": (0.50, 0.25, 1024), "s": (0.50, 0.50, 1024), "m": (0.50, 1.00, 512),
                   "l": (1.00, 1.00, 512), "x": (1.00, 1.50, 512)},
        "layers": [
            (-1, 1, "Conv", [64, 3, 2]),  # 0 P1/2
            (-1, 1, "Conv", [128, 3, 2]),  # 1 P2/4
            (-1, 2, "C3k2", [256, False, 0.25]),
            (-1, 1, "Conv", [256, 3, 2]),  # 3 P3/8
            (-1, 2, "C3k2", [512, False, 0.25]),
            (-1, 1, "Conv", [512, 3, 2]),  # 5 P4/16
            (-1, 2, "C3k2", [512, True]),
            (-1, 1, "Conv", [1024, 3, 2]),  # 7 P5/32
            (-1, 2, "C3k2", [1024, True]),
            (-1, 1, "SPPF", [1024, 5]),  # 9
            (-1, 2, "C2PSA", [1024]),  # 10
            (-1, 1) + _UP,
            ([-1, 6], 1, "Concat", [1]),
            (-1, 2, "C3k2", [512, False]),  # 13
            (-1, 1) + _UP,
            ([-1, 4], 1, "Concat", [1]),
            (-1, 2, "C3k2", [256, False]),  # 16 P3 out
            (-1, 1, "Conv", [256, 3, 2]),
            ([-1, 13], 1, "Concat", [1]),
            (-1, 2, "C3k2", [512, False]),  # 19 P4 out
            (-1, 1, "Conv", [512, 3, 2]),
            ([-1, 10], 1, "Concat", [1]),
            (-1, 2, "C3k2", [1024, True]),  # 22 P5 out
            ([16, 19, 22], 1, "Detect", ["nc"]),
        ],
    },
    "yolo12": {
        "scales": {"n": (0.50, 0.25, 1024), "s": (0.50, 0.50, 1024), "m": (0.50, 1.00, 512),
                   "l": (1.00, 1.00, 512), "x": (1.00, 1.50, 512)},
        "layers": [
            (-1, 1, "Conv", [64, 3, 2]),  # 0 P1/2
            (-1, 1, "Conv", [128, 3, 2, 1, 2]),  # 1 P2/4, groups 2
            (-1, 2, "C3k2", [256, False, 0.25]),
            (-1, 1, "Conv", [256, 3, 2, 1, 4]),  # 3 P3/8, groups 4
            (-1, 2, "C3k2", [512, False, 0.25]),
            (-1, 1, "Conv", [512, 3, 2]),  # 5 P4/16
            (-1, 4, "A2C2f", [512, True, 4]),  # area 4
            (-1, 1, "Conv", [1024, 3, 2]),  # 7 P5/32
            (-1, 4, "A2C2f", [1024, True, 1]),  # 8
            (-1, 1) + _UP,
            ([-1, 6], 1, "Concat", [1]),
            (-1, 2, "A2C2f", [512, False, -1]),  # 11
            (-1, 1) + _UP,
            ([-1, 4], 1, "Concat", [1]),
            (-1, 2, "A2C2f", [256, False, -1]),  # 14 P3 out
            (-1, 1, "Conv", [256, 3, 2]),
            ([-1, 11], 1, "Concat", [1]),
            (-1, 2, "A2C2f", [512, False, -1]),  # 17 P4 out
            (-1, 1, "Conv", [512, 3, 2]),
            ([-1, 8], 1, "Concat", [1]),
            (-1, 2, "C3k2", [1024, True]),  # 20 P5 out
            ([14, 17, 20], 1, "Detect", ["nc"]),
        ],
    },
}

_MODULES = {
    "Conv": Conv, "C2f": C2f, "C3k2": C3k2, "SPPF": SPPF, "C2PSA": C2PSA, "A2C2f": A2C2f,
    "Concat": Concat, "Upsample": nn.Upsample, "Detect": Detect,
}
_CHANNEL_MODULES = {"Conv", "C2f", "C3k2", "SPPF", "C2PSA", "A2C2f"}
_REPEAT_MODULES = {"C2f", "C3k2", "C2PSA", "A2C2f"}


def make_divisible(x, divisor=8):
    return int(math.ceil(x / divisor) * divisor)


def build_layers(arch, nc, scale="n", width=None, depth=None, max_channels=None, ch=3):
    """Scale the layer list as the configs specify: repeats n -> max(round(n * depth), 1),
    channels c -> make_divisible(min(c, max_channels) * width, 8). width/depth/max_channels
    override the scale's multiples (narrow test variants keep every block)."""
    spec = ARCHS[arch]
    d, w, mc = spec["scales"][scale]
    d = d if depth is None else depth
    w = w if width is None else width
    mc = mc if max_channels is None else max_channels
    layers, chs, save = [], [ch], set()
    legacy = True
    for i, (f, n, name, args) in enumerate(spec["layers"]):
        args = [nc if a == "nc" else a for a in args]
        n = max(round(n * d), 1) if n > 1 else n
        if name in _CHANNEL_MODULES:
            c1, c2 = chs[f], args[0]
            if c2 != nc:
                c2 = make_divisible(min(c2, mc) * w, 8)
            args = [c1, c2, *args[1:]]
            if name in _REPEAT_MODULES:
                args.insert(2, n)
                n = 1
            if name == "C3k2":
                legacy = False
                if scale in "mlx":
                    args[3] = True
            if name == "A2C2f":
                legacy = False
                if scale in "lx":
                    args.extend((True, 1.2))
        elif name == "Concat":
            c2 = sum(chs[x] for x in f)
        elif name == "Detect":
            args.append([chs[x] for x in f])
            c2 = None
        else:
            c2 = chs[f]
        if name == "Detect":
            m = Detect(*args, legacy=legacy)
        elif n > 1:
            m = nn.Sequential(*(_MODULES[name](*args) for _ in range(n)))
        else:
            m = _MODULES[name](*args)
        m.i, m.f, m.type = i, f, name
        save.update(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
        layers.append(m)
        if i == 0:
            chs = []
        chs.append(c2)
    return layers, sorted(save)


class DetectionModel(nn.Module):
    """A YOLO detector: `model` holds the layers in config order (model.0 ... model.N)."""

    def __init__(self, arch="yolo11", nc=80, scale="n", width=None, depth=None, max_channels=None,
                 ch=3):
        super().__init__()
        layers, save = build_layers(arch, nc, scale, width, depth, max_channels, ch)
        self.model = nn.Sequential(*layers)
        self.save = save
        self.arch, self.scale, self.nc = arch, scale, nc
        self.width = width
        self.names = {i: f"class{i}" for i in range(nc)}
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps, m.momentum = 1e-3, 0.03
            elif isinstance(m, nn.SiLU):
                m.inplace = True
        head = self.model[-1]
        s = 256
        with torch.no_grad():
            self.eval()
            feats = self._forward_features(torch.zeros(1, ch, s, s))
            self.train()
        head.stride = torch.tensor([s / f.shape[-2] for f in feats])
        self.stride = head.stride
        head.bias_init()

    def _forward_features(self, x):
        """Run the backbone and neck; return the inputs of the detect head."""
        y = []
        for m in self.model[:-1]:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            x = m(x)
            y.append(x if m.i in self.save else None)
        head = self.model[-1]
        return [x if j == -1 else y[j] for j in head.f]

    def forward(self, x):
        return self.model[-1](self._forward_features(x))

    def fuse(self):
        """Fold every BatchNorm into its convolution (in place); returns self."""
        for m in self.modules():
            if isinstance(m, Conv):
                m.fuse()
        return self


def yolov8(nc=80, scale="n", **kw):
    return DetectionModel("yolov8", nc, scale, **kw)


def yolo11(nc=80, scale="n", **kw):
    return DetectionModel("yolo11", nc, scale, **kw)


def yolo12(nc=80, scale="n", **kw):
    return DetectionModel("yolo12", nc, scale, **kw)


BUILDERS = {"yolov8": yolov8, "yolo11": yolo11, "yolo12": yolo12}


# --------------------------------------------------------------------------
# ONNX export, Ultralytics style


def constants_to_initializers(graph):
    """Turn Constant nodes into initializers, and Identity nodes on initializers
    (the exporter's way of sharing equal weights) into copies, as onnxslim leaves
    an Ultralytics export."""
    from onnx import numpy_helper

    inits = {t.name: t for t in graph.initializer}
    keep = []
    for node in graph.node:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "Constant" and "value" in attrs and not node.domain:
            t = numpy_helper.from_array(numpy_helper.to_array(attrs["value"].t), node.output[0])
        elif node.op_type == "Identity" and node.input[0] in inits:
            t = numpy_helper.from_array(numpy_helper.to_array(inits[node.input[0]]), node.output[0])
        else:
            keep.append(node)
            continue
        graph.initializer.append(t)
        inits[t.name] = t
    del graph.node[:]
    graph.node.extend(keep)


def export_onnx(model, path, imgsz=(640, 640), batch=1, opset=17, names=None, description=None,
                author="qbench", dynamo=False, fold_constants=True, dynamic=False):
    """Fuse, trace and write an ONNX model with static shapes, input 'images' and
    output 'output0' [batch, 4 + nc, N], plus Ultralytics-style metadata_props.
    Uses the TorchScript exporter (dynamo=False) where torch still has it;
    fold_constants turns the exporter's Constant nodes into initializers.
    dynamic=True exports as Ultralytics' dynamic=True does: batch, height and
    width symbolic, the head's anchors computed in the graph (Shape, Range ...).
    Returns the name of the exporter used."""
    import onnx

    model = copy.deepcopy(model).float().cpu().eval().fuse()
    for p in model.parameters():
        p.requires_grad_(False)
    h, w = imgsz
    im = torch.zeros(batch, 3, h, w)
    with torch.no_grad():
        for _ in range(2):  # dry runs: the head caches its anchors for this shape
            model(im)
    kwargs = dict(opset_version=opset, input_names=["images"], output_names=["output0"],
                  do_constant_folding=True, export_params=True)
    if dynamic:
        model.model[-1].dynamic = True
        kwargs["dynamic_axes"] = {"images": {0: "batch", 2: "height", 3: "width"},
                                  "output0": {0: "batch", 2: "anchors"}}
    with torch.no_grad():
        try:
            torch.onnx.export(model, im, path, dynamo=dynamo, **kwargs)
            used = "dynamo" if dynamo else "torchscript"
        except TypeError as e:
            if "dynamo" not in str(e):
                raise
            torch.onnx.export(model, im, path, **kwargs)  # older torch: TorchScript only
            used = "torchscript"
    m = onnx.load(path)
    if fold_constants:
        constants_to_initializers(m.graph)
    if names is None:
        names = model.names
    if not isinstance(names, dict):
        names = dict(enumerate(names))
    meta = {
        "description": description or f"qbench {model.arch}{model.scale} detector",
        "author": author,
        "stride": str(int(max(model.stride))),
        "task": "detect",
        "batch": str(batch),
        "imgsz": str([h, w]),
        "names": str(names),
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return used
