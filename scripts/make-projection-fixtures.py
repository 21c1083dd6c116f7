#!/usr/bin/python3
"""Generate PyTorch reference fixtures for rnnkit's LSTM with a projection (projSize, PyTorch's proj_size).

Usage (from the repo root; needs PyTorch, e.g. /usr/bin/python3 after apt-get install -y python3-torch):

    /usr/bin/python3 scripts/make-projection-fixtures.py

Writes one safetensors file per case into test/fixtures/projection/ (layout: its README.md). Inputs,
parameters and upstream gradients are drawn as float32 (torch.manual_seed per case); nn.LSTM(proj_size=P)
then runs forward and backward in float64 (packed sequences where the case has lengths), and every stored
result is that float64 reference rounded to float32. Deterministic: two runs write identical bytes.
"""

import importlib.util
import os

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# One safetensors writer for every fixture script: make-fixtures.py's (its file name is not a module name).
_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(os.path.dirname(__file__), "make-fixtures.py"))
_make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_make_fixtures)
write_safetensors = _make_fixtures.write_safetensors

OUT_DIR = os.path.join("test", "fixtures", "projection")

# (file name, config, lengths or None)
CASES = [
    ("l1-uni", dict(numLayers=1, bidirectional=False, bias=True, inputSize=4, hiddenSize=5, projSize=3, T=5, B=3,
                    hasH0=False), None),
    ("l1-uni-h0-lengths", dict(numLayers=1, bidirectional=False, bias=True, inputSize=5, hiddenSize=7, projSize=4,
                               T=6, B=4, hasH0=True), [6, 1, 4, 3]),
    ("l2-bi-h0-lengths", dict(numLayers=2, bidirectional=True, bias=True, inputSize=3, hiddenSize=6, projSize=2,
                              T=5, B=3, hasH0=True), [2, 5, 1]),
    ("l2-bi-nobias-lengths", dict(numLayers=2, bidirectional=True, bias=False, inputSize=3, hiddenSize=4, projSize=3,
                                  T=3, B=2, hasH0=True), [3, 2]),
    ("l3-uni-p1-lengths", dict(numLayers=3, bidirectional=False, bias=True, inputSize=4, hiddenSize=5, projSize=1,
                               T=4, B=2, hasH0=False), [4, 2]),
    ("l1-bi-odd", dict(numLayers=1, bidirectional=True, bias=True, inputSize=5, hiddenSize=9, projSize=5, T=7, B=2,
                       hasH0=True), None),
]


def run_case(cfg, lengths, seed):
    """Draw inputs (float32), run forward+backward in float64; an ordered list of (name, float32 tensor)."""
    torch.manual_seed(seed)
    T, B, I, H, P = cfg["T"], cfg["B"], cfg["inputSize"], cfg["hiddenSize"], cfg["projSize"]
    D = 2 if cfg["bidirectional"] else 1
    LD = cfg["numLayers"] * D

    module = nn.LSTM(input_size=I, hidden_size=H, num_layers=cfg["numLayers"], bias=cfg["bias"],
                     batch_first=False, dropout=0.0, bidirectional=cfg["bidirectional"], proj_size=P)
    x = torch.randn(T, B, I)
    h0 = torch.randn(LD, B, P) * 0.5 if cfg["hasH0"] else None
    c0 = torch.randn(LD, B, H) * 0.5 if cfg["hasH0"] else None
    d_output = torch.randn(T, B, D * P)
    d_hN = torch.randn(LD, B, P)
    d_cN = torch.randn(LD, B, H)

    tensors = [("input.x", x)]
    if h0 is not None:
        tensors += [("input.h0", h0), ("input.c0", c0)]
    if lengths is not None:
        tensors.append(("input.lengths", torch.tensor(lengths, dtype=torch.float32)))
    params = list(module.named_parameters())
    tensors += [("param." + name, p.detach().clone()) for name, p in params]
    tensors += [("dout.output", d_output), ("dout.hN", d_hN), ("dout.cN", d_cN)]

    module.double()
    x64 = x.double().requires_grad_()
    state = None
    if h0 is not None:
        h64, c64 = h0.double().requires_grad_(), c0.double().requires_grad_()
        state = (h64, c64)
    seq = x64
    if lengths is not None:
        seq = pack_padded_sequence(x64, torch.tensor(lengths, dtype=torch.int64), enforce_sorted=False)
    output, (hN, cN) = module(seq, state)
    if lengths is not None:
        output, _ = pad_packed_sequence(output, total_length=T)
    assert output.shape == (T, B, D * P) and hN.shape == (LD, B, P) and cN.shape == (LD, B, H)
    loss = (output * d_output.double()).sum() + (hN * d_hN.double()).sum() + (cN * d_cN.double()).sum()
    loss.backward()

    tensors += [("out.output", output.detach()), ("out.hN", hN.detach()), ("out.cN", cN.detach())]
    tensors.append(("grad.x", x64.grad))
    if state is not None:
        tensors += [("grad.h0", state[0].grad), ("grad.c0", state[1].grad)]
    tensors += [("grad." + name, p.grad) for name, p in params]
    return [(name, t.detach().to(torch.float32).contiguous()) for name, t in tensors]


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    for seed, (name, shape, lengths) in enumerate(CASES, start=101):
        config = dict(shape, mode="LSTM", hasLengths=lengths is not None, torch=torch.__version__.split("+")[0])
        tensors = run_case(config, lengths, seed)
        write_safetensors(os.path.join(OUT_DIR, "lstm-proj-%s.safetensors" % name), tensors, config)
        print("wrote", name)


if __name__ == "__main__":
    main()
