"""8-bit YAMNet on other CPUs: which kernels are exact, what each graph form costs, same bytes everywhere.

    python benchmarks/bench_int8.py [--out BENCHMARKS.md]

Here: the int8 probe's verdict per weight form, the speed (ms per patch, one thread, best of 5) of
the float, int8-weight and uint8-weight graphs, and whether the backbone reproduces the committed
golden outputs (``tests/fixtures/yamnet_q_golden.npz``). Then, when ``qemu-x86_64`` (Debian's
``qemu-user``) is installed, the same checks in a child process under emulated CPUs without
AVX-512 or VNNI (``-cpu Haswell-v4``: AVX2 only; ``-cpu EPYC-Rome``: AMD Zen 2, AVX2 only), plus
how far the int8 form's outputs are from the golden bytes there (what ``yamnet-q`` returned before
it checked its kernels). Emulated speed means nothing and is not reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import REPO, emit, machine

import numpy as np

GOLDEN = REPO / "tests" / "fixtures" / "yamnet_q_golden.npz"
EMULATED = ("Haswell-v4", "EPYC-Rome")


def check(model_dir: str) -> dict:
    """Probe verdicts, chosen form, and each form's distance from the golden outputs (in uint8 quanta)."""
    import onnxruntime as ort

    from soundsort.backbones.convert.yamnet import load_yamnet_model
    from soundsort.backbones.yamnet import int8_kernels_exact, quantized_form

    golden = np.load(GOLDEN)
    out = {"probe": int8_kernels_exact(model_dir), "form": quantized_form(model_dir)}
    for form in ("int8", "uint8"):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(load_yamnet_model(form, model_dir)[0], sess_options=opts,
                                    providers=["CPUExecutionProvider"])
        lq, eq = sess.run(["logits_q", "embedding_q"], {"patches_q": golden["patches_q"]})
        dl = np.abs(lq.astype(int) - golden["logits_q"].astype(int))
        de = np.abs(eq.astype(int) - golden["embedding_q"].astype(int))
        out[form] = {"logits_max_quanta": int(dl.max()), "logits_share_differing": float(np.mean(dl > 0)),
                     "embedding_max_quanta": int(de.max()), "embedding_share_differing": float(np.mean(de > 0))}
    out["agreement"] = agreement(model_dir)
    return out


def agreement(model_dir: str) -> dict[str, float]:
    """Float vs 8-bit YAMNet on the unit test's signals: the share of patch x class scores beyond s/8 and the
    largest deviation, in units of s/8 (s = the logit scale; the test allows 1 % and 4)."""
    from soundsort.backbones.yamnet import YamnetBackbone

    sr = 16000
    t = np.arange(5 * sr) / sr
    rng = np.random.default_rng(3)
    sigs = [0.3 * np.sin(2 * np.pi * 1000 * t), 0.1 * rng.standard_normal(len(t)),
            0.3 * np.sign(np.sin(2 * np.pi * 220 * t)), 0.5 * np.sin(2 * np.pi * 440 * t)]
    fb = YamnetBackbone("float", threads=1, model_dir=model_dir)
    qb = YamnetBackbone("quantized", threads=1, model_dir=model_dir)
    bound = 0.7565417289733887 / 8
    worst_share, worst_max = 0.0, 0.0
    for y in sigs:
        y = y.astype(np.float32)
        d = np.abs(fb.embed_and_scores(y, sr)[1] - qb.embed_and_scores(y, sr)[1])
        worst_share = max(worst_share, float(np.mean(d > bound)))
        worst_max = max(worst_max, float(d.max() / bound))
    return {"share_beyond": worst_share, "max_in_bounds": worst_max}


def speed(model_dir: str, n: int = 256, repeats: int = 5) -> dict[str, float]:
    import onnxruntime as ort

    from soundsort.backbones.convert.yamnet import load_yamnet_model

    rng = np.random.default_rng(0)
    patches = rng.uniform(-6.9, 3.0, (n, 96, 64)).astype(np.float32)
    patches_q = np.clip(np.rint(patches / 0.0479) + 144, 0, 255).astype(np.uint8)
    result = {}
    for form in ("float", "int8", "uint8"):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(load_yamnet_model(form, model_dir)[0], sess_options=opts,
                                    providers=["CPUExecutionProvider"])
        name, x = ("patches", patches) if form == "float" else ("patches_q", patches_q)
        sess.run(None, {name: x[:32]})
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, n, 32):
                sess.run(None, {name: x[i:i + 32]})
            best = min(best, time.perf_counter() - t0)
        result[form] = 1000 * best / n
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", help="(internal) print check() as JSON for this model folder")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(check(args.child)))
        return

    from soundsort.backbones.convert.yamnet import ensure_yamnet_models

    model_dir = tempfile.mkdtemp(prefix="soundsort-int8-")
    ensure_yamnet_models(model_dir)
    rows = [("this machine (native)", check(model_dir))]
    qemu = shutil.which("qemu-x86_64")
    for cpu in EMULATED if qemu else ():
        proc = subprocess.run([qemu, "-cpu", cpu, sys.executable, __file__, "--child", model_dir],
                              capture_output=True, text=True, timeout=1800)
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        if proc.returncode != 0 or not line.startswith("{"):
            rows.append((f"qemu -cpu {cpu}", {"error": proc.stderr.strip().splitlines()[-1:]}))
            continue
        rows.append((f"qemu -cpu {cpu} (emulated)", json.loads(line)))
    ms = speed(model_dir)
    shutil.rmtree(model_dir, ignore_errors=True)

    doc = [f"### 8-bit YAMNet on other CPUs ({date.today().isoformat()})", "",
           f"Command: `python benchmarks/bench_int8.py`; machine: {machine()}.", "",
           "| CPU | probe exact: int8 / uint8 weights | form used | int8 form vs golden (logits: max quanta, "
           "share differing) | uint8 form vs golden | backbone = golden bytes | float vs 8-bit: share beyond s/8, "
           "max (in s/8) |",
           "|---|---|---|---|---|---|---|"]
    for name, r in rows:
        if "error" in r:
            doc.append(f"| {name} | failed: {r['error']} | | | | | |")
            continue
        a, b = r["int8"], r["uint8"]
        used = r[r["form"]]
        same = used["logits_max_quanta"] == 0 and used["embedding_max_quanta"] == 0
        doc.append(f"| {name} | {r['probe']['int8']} / {r['probe']['uint8']} | {r['form']} | "
                   f"{a['logits_max_quanta']}, {a['logits_share_differing']:.1%} "
                   f"(embedding {a['embedding_max_quanta']}, {a['embedding_share_differing']:.1%}) | "
                   f"{b['logits_max_quanta']}, {b['logits_share_differing']:.1%} | {'yes' if same else 'NO'} | "
                   f"{r['agreement']['share_beyond']:.2%}, {r['agreement']['max_in_bounds']:.2f} |")
    if not qemu:
        doc.append("| (qemu-x86_64 not installed: `apt-get install qemu-user` to check AVX2-only CPUs) | | | | | | |")
    doc += ["", f"Speed here, one thread, ms per patch (best of 5 × 256 patches): float {ms['float']:.3f}, "
            f"int8 weights {ms['int8']:.3f}, uint8 weights {ms['uint8']:.3f} "
            f"(uint8 / int8 = {ms['uint8'] / ms['int8']:.2f}×).", ""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
