"""Detector inference throughput (sequences/s) against references measured in the same run.

    python bench/infer.py [--n 200000] [--threads 2] [--module-threads 1] [--device cpu|cuda] [--model model/]

Prints sequences/s, all measured in this run on the same machine:
  * the bundled CNN-LSTM as a torch module on dense (N, T, C) windows (``model(x)``, batch
    ``--batch``), with ``--module-threads`` torch threads (default 1: on a busy 2-core machine
    two OpenMP threads make these small operations several times slower) and with ``--threads``;
    the references run with ``--module-threads`` too, and ratios compare like with like;
  * the bundled model through the detector's API, ``Detector.predict_windows``: on the same
    dense windows, and on compact windows built from flows (the path ``Detector.predict``
    takes: first Linear once per distinct flow row, batches in ``--threads`` Python threads),
    for each inference engine (``--engines``, default both on CPU: numpy, the default, and
    torch), one after the other in this run;
  * the issue's reference CNN-LSTMs (T=32/64 ch/128 units; T=16/32 ch/32 units) and
    scikit-learn RandomForest(100 trees).predict_proba on the same flattened windows,
    with the ratio "bundled / reference";
  * end to end ``Detector.predict`` on a flow table (features + windows + dedup + model), with
    and without explanations (flows/s), ``--flows`` flows of a lab-like synthetic mix, or a
    pickled/parquet flow table with ``--flow-table``, for each engine (best of ``--repeat``).
The model's speed does not depend on input values (random dense windows are fine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


class RefCNNLSTM(nn.Module):
    """The issue's reference: Conv1d(C, ch, 3) over T steps -> LSTM(ch, units) -> heads."""

    def __init__(self, c, ch, units):
        super().__init__()
        self.conv = nn.Conv1d(c, ch, 3, padding=1)
        self.lstm = nn.LSTM(ch, units, batch_first=True)
        self.h1 = nn.Linear(units, 5)
        self.h2 = nn.Linear(units, 8)

    def forward(self, x):
        h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        _, (h, _) = self.lstm(h)
        return self.h1(h[0]), self.h2(h[0])


def rate(fn, x, batch, repeat=3, bf16=False):
    """Best of ``repeat`` passes over ``x`` in batches (sequences/s); ``bf16``: under CUDA autocast."""
    import contextlib

    amp = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), amp:
        fn(x[:batch])
        best = 0.0
        for _ in range(repeat):
            if x.is_cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
            for lo in range(0, len(x), batch):
                fn(x[lo:lo + batch])
            if x.is_cuda:
                torch.cuda.synchronize()
            best = max(best, len(x) / (time.perf_counter() - t))
    return best


def randn(rng, shape, device):
    """Random windows: generated on the GPU when there is one (the CPU would take minutes for 10^7)."""
    if str(device).startswith("cuda"):
        return torch.randn(shape, device=device, generator=torch.Generator(device).manual_seed(0))
    return torch.as_tensor(rng.standard_normal(shape).astype(np.float32))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the detector (it runs batches in that "
                    "many Python threads, one torch thread each)")
    ap.add_argument("--module-threads", type=int, default=1, help="torch threads for the bare module and references")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=16384)
    ap.add_argument("--model", default=None)
    ap.add_argument("--no-rf", action="store_true")
    ap.add_argument("--flows", type=int, default=200_000, help="flows of the synthetic flow table")
    ap.add_argument("--flow-table", help="a flow table (.parquet or .pkl) to time Detector.predict on instead")
    ap.add_argument("--engines", default=None, help="comma-separated detector engines to time (default: numpy,torch "
                    "on cpu, torch on cuda)")
    ap.add_argument("--repeat", type=int, default=3, help="timings per engine (the best is printed)")
    ap.add_argument("--det-batch", type=int, default=None, help="windows per model call of the detector "
                    "(default: the detector's own, larger on CUDA)")
    args = ap.parse_args()
    cuda = str(args.device).startswith("cuda")
    if cuda:
        args.no_rf = True  # a CPU reference: measured in the CPU runs
    torch.set_num_threads(args.module_threads)
    engines = (args.engines.split(",") if args.engines else
               (["numpy", "torch"] if args.device == "cpu" else ["torch"]))

    from forensics.detect import load_detector
    from forensics.train import demo_flows

    det = load_detector(args.model, device=args.device, engine="torch")  # the torch module for the module timings
    T, C = det.spec.steps, len(det.meta["features"])
    rng = np.random.default_rng(0)
    x = randn(rng, (args.n, T, C), args.device)
    a = det.meta["arch"]
    if cuda:
        print(f"GPU {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"device {args.device}, module threads {args.module_threads}, detector threads {args.threads}, {args.n} sequences, "
          f"T={T}, C={C}; load {os.getloadavg()[0]:.2f}")
    results = {}
    name = f"bundled CNN-LSTM module, model(x) on dense windows, batch {args.batch} (T={T}, E={a['embed']}, H={a['conv']}, U={a['hidden']})"
    results[f"{name}, {'fp32' if cuda else str(args.module_threads) + ' thread(s)'}"] = rate(det.model, x, args.batch)
    if args.threads != args.module_threads and not cuda:
        torch.set_num_threads(args.threads)
        results[f"{name}, {args.threads} OpenMP threads"] = rate(det.model, x, args.batch)
        torch.set_num_threads(args.module_threads)
    if cuda:
        results[f"{name}, bf16 autocast"] = rate(det.model, x, args.batch, bf16=True)
    refs = {}
    for t_ref, ch, units in ((16, 32, 32), (32, 64, 128)):
        m = RefCNNLSTM(C, ch, units).eval().to(args.device)
        xr = randn(rng, (min(args.n, (1_000_000 if cuda else 100_000) if t_ref == 32 else args.n), t_ref, C), args.device)
        rb = args.batch if cuda or t_ref == 16 else 8192
        refs[f"reference CNN-LSTM T={t_ref}/{ch}ch/{units}u"] = rate(m, xr, rb, 1 if not cuda else 3)
        if cuda:
            refs[f"reference CNN-LSTM T={t_ref}/{ch}ch/{units}u, bf16 autocast"] = rate(m, xr, rb, 3, bf16=True)
        del xr
    if not args.no_rf:
        from sklearn.ensemble import RandomForestClassifier

        xf = x[:20000].cpu().numpy().reshape(20000, -1)
        y = rng.integers(0, 12, 20000)
        rf = RandomForestClassifier(n_estimators=100, n_jobs=args.module_threads, random_state=0).fit(xf[:5000], y[:5000])
        t = time.perf_counter()
        rf.predict_proba(xf)
        refs["reference sklearn RandomForest(100).predict_proba"] = len(xf) / (time.perf_counter() - t)
    import pandas as pd

    if args.flow_table:
        flows = pd.read_parquet(args.flow_table) if args.flow_table.endswith(".parquet") else pd.read_pickle(args.flow_table)
    else:
        per = 5000
        flows = pd.concat([demo_flows(n_normal=500, n_scan=1000, n_flood=3500, seed=i, t0=1.7e9 + i * 1e5)
                           for i in range(max(1, args.flows // per))], ignore_index=True)
    from forensics.sequences import build_windows

    torch.set_num_threads(args.threads)  # the detector's own threading from here on
    xn = x.cpu().numpy()
    w = build_windows(flows, det.spec)
    dets = {}
    for engine in engines:
        d = det if engine == "torch" else load_detector(args.model, device=args.device, engine=engine)
        if engine == "numpy":
            d.threads = args.threads  # Python threads over batches (OpenBLAS held to one thread meanwhile)
        if args.det_batch:
            d.batch = args.det_batch
        dets[engine] = d
        d.predict_windows(xn[:d.batch])
        t = time.perf_counter()
        d.predict_windows(xn)
        results[f"bundled, engine {engine}, Detector.predict_windows on the same dense windows"] = \
            len(xn) / (time.perf_counter() - t)
        d.predict_windows(w)
    # the engines take turns (best of --repeat each), so that a change of load hits both
    best = dict.fromkeys(dets, 0.0)
    for _ in range(args.repeat):
        for engine, d in dets.items():
            t = time.perf_counter()
            d.predict_windows(w)
            best[engine] = max(best[engine], len(w) / (time.perf_counter() - t))
    for engine in dets:
        results[f"bundled, engine {engine}, Detector.predict_windows on compact windows "
                f"({len(w):,} distinct of {len(flows):,} flows)"] = best[engine]
    main_name, main_rate = next(iter(results.items()))
    for name, r in results.items():
        print(f"{name}: {r:,.0f} sequences/s")
    bf16_rate = next((r for n, r in results.items() if "bf16" in n), None)
    for name, r in refs.items():
        mine = bf16_rate if "bf16" in name else main_rate
        print(f"{name}: {r:,.0f} sequences/s -> bundled module is {mine / r:.2f}x")
    # end to end on a flow table (features + windows + dedup + model)
    dt, dte, attacks = dict.fromkeys(dets, float("inf")), dict.fromkeys(dets, float("inf")), {}
    for d in dets.values():
        d.predict(flows.iloc[:5000])
    for _ in range(args.repeat):  # taking turns, as above
        for engine, d in dets.items():
            t = time.perf_counter()
            d.predict(flows, explain=False)
            dt[engine] = min(dt[engine], time.perf_counter() - t)
            t = time.perf_counter()
            out = d.predict(flows)
            dte[engine] = min(dte[engine], time.perf_counter() - t)
            attacks[engine] = int(out.pred_attack.sum())
    for engine in dets:
        print(f"end to end Detector.predict, engine {engine}, on {len(flows):,} flows ({attacks[engine]:,} "
              f"attack verdicts): {len(flows) / dt[engine]:,.0f} flows/s without explanations ({dt[engine]:.2f} s), "
              f"{len(flows) / dte[engine]:,.0f} flows/s with explanations ({dte[engine]:.2f} s)")
    print(f"load {os.getloadavg()[0]:.2f} at the end")

if __name__ == "__main__":
    main()
