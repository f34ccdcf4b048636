#!/usr/bin/env python3
"""ONNX Runtime's forward time on a model file, as the baseline for `deepvis bench --model`.

For the benchmark only (never a project dependency): `python3 -m pip install onnxruntime numpy`,
then `python3 scripts/bench-onnxruntime.py MODEL.onnx [--threads 2] [--iters 50]`.
Prints one JSON line: median/min/mean milliseconds of a batch-1 forward on noise, also as
`results: [{case: forward_to_prob, ...}]`, the form `deepvis bench --compare FILE` reads.
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    a = p.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(a.warmup):
        s.run(None, {inp.name: x})
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        s.run(None, {inp.name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    row = {"median_ms": statistics.median(times), "min_ms": min(times),
           "mean_ms": statistics.mean(times), "iters": a.iters}
    print(json.dumps({
        "runtime": f"onnxruntime {ort.__version__}", "model": a.model, "threads": a.threads,
        "input": shape, **row,
        # the whole model: deepvis's forward to the output
        "results": [{"case": "forward_to_prob", **row}],
    }))


if __name__ == "__main__":
    main()
