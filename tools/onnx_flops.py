#!/usr/bin/env python3
"""Multiply-add work of an ONNX model with static shapes, in FLOPs (2 per MAC).

    python3 tools/onnx_flops.py MODEL.onnx [...]

Counts Conv, ConvTranspose, MatMul and Gemm (the work a CPU executor's peak
FLOP/s applies to); element-wise ops, pooling and softmax are listed apart as
element counts, since they are bound by memory, not by FMA throughput.
"""

import collections
import sys

import onnx
from onnx import shape_inference


def shapes_of(model):
    m = shape_inference.infer_shapes(model)
    shapes = {}
    for v in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[v.name] = dims
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    return m, shapes


def prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


def flops(path):
    model, shapes = shapes_of(onnx.load(path))
    macs = collections.Counter()
    elems = collections.Counter()
    for node in model.graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        if node.op_type in ("Conv", "ConvTranspose"):
            w = shapes[node.input[1]]
            if node.op_type == "Conv":
                macs[node.op_type] += prod(out) * prod(w[1:])
            else:
                x = shapes[node.input[0]]
                macs[node.op_type] += prod(x) * prod(w[1:])
        elif node.op_type == "MatMul":
            a = shapes[node.input[0]]
            macs["MatMul"] += prod(out) * a[-1]
        elif node.op_type == "Gemm":
            a = shapes[node.input[0]]
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            macs["Gemm"] += prod(out) * (a[0] if trans_a else a[-1])
        elif out is not None:
            elems[node.op_type] += prod(out)
    return macs, elems


def main():
    for path in sys.argv[1:]:
        macs, elems = flops(path)
        total = 2 * sum(macs.values())
        print(f"{path}: {total / 1e9:.3f} GFLOP (2 x {sum(macs.values()) / 1e9:.3f} GMAC)")
        for op, n in macs.most_common():
            print(f"  {op:14s} {2 * n / 1e9:8.3f} GFLOP")
        print("  other ops, output elements: " +
              ", ".join(f"{op} {n / 1e6:.1f}M" for op, n in elems.most_common()))
    return 0 if len(sys.argv) > 1 else 2


if __name__ == "__main__":
    sys.exit(main())
