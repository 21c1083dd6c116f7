#!/usr/bin/python3
"""Generate PyTorch reference fixtures for rnnkit's single-step cells (RNNCell, GRUCell, LSTMCell).

Usage (from the repo root; needs PyTorch, e.g. /usr/bin/python3):

    /usr/bin/python3 scripts/make-cell-fixtures.py

Writes one safetensors file per case into test/fixtures/cells/: a cell stepped
T times in a loop (the state carried from step to step), with the loss summed
over every step's outputs, so the gradients run through the whole loop (BPTT).
Inputs, parameters and upstream gradients are drawn as float32
(torch.manual_seed per case); the loop and its backward then run in float64,
and every stored result is a float64 reference rounded to float32. Output is
deterministic: running the script twice produces identical bytes.
"""

import importlib.util
import os

import torch
import torch.nn as nn

OUT_DIR = os.path.join("test", "fixtures", "cells")

# The safetensors writer of the layers' fixtures, so both write the same format.
_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(os.path.dirname(__file__), "make-fixtures.py"))
_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_layers)
write_safetensors = _layers.write_safetensors

# (file-name suffix, shape config); every mode gets every case.
CASES = [
    ("b3-i4-h5-t4-h0", dict(inputSize=4, hiddenSize=5, B=3, T=4, bias=True, hasH0=True)),
    ("b2-i3-h4-t3-nobias", dict(inputSize=3, hiddenSize=4, B=2, T=3, bias=False, hasH0=False)),
]
MODES = ["RNN_TANH", "RNN_RELU", "GRU", "LSTM"]


def build_cell(cfg):
    """Create the PyTorch cell for a config (float32, default init)."""
    common = dict(input_size=cfg["inputSize"], hidden_size=cfg["hiddenSize"], bias=cfg["bias"])
    mode = cfg["mode"]
    if mode == "RNN_TANH":
        return nn.RNNCell(nonlinearity="tanh", **common)
    if mode == "RNN_RELU":
        return nn.RNNCell(nonlinearity="relu", **common)
    if mode == "GRU":
        return nn.GRUCell(**common)
    if mode == "LSTM":
        return nn.LSTMCell(**common)
    raise ValueError(mode)


def run_case(cfg, seed):
    """Draw inputs (float32), run the loop and its backward in float64.

    Returns an ordered list of (name, float32 tensor)."""
    torch.manual_seed(seed)
    T, B, I, H = cfg["T"], cfg["B"], cfg["inputSize"], cfg["hiddenSize"]
    is_lstm = cfg["mode"] == "LSTM"

    # Draw everything in float32 first, in a fixed order.
    cell = build_cell(cfg)
    x = torch.randn(T, B, I)
    h0 = torch.randn(B, H) * 0.5 if cfg["hasH0"] else None
    c0 = torch.randn(B, H) * 0.5 if cfg["hasH0"] and is_lstm else None
    d_h = torch.randn(T, B, H)
    d_c = torch.randn(T, B, H) if is_lstm else None

    tensors = [("input.x", x)]
    if h0 is not None:
        tensors.append(("input.h0", h0))
    if c0 is not None:
        tensors.append(("input.c0", c0))
    params = list(cell.named_parameters())
    tensors += [("param." + name, p.detach().clone()) for name, p in params]
    tensors.append(("dout.h", d_h))
    if d_c is not None:
        tensors.append(("dout.c", d_c))

    # Reference computation in float64: the user's loop over steps.
    cell.double()
    x64 = x.double().requires_grad_()
    h = h0.double().requires_grad_() if h0 is not None else None
    c = c0.double().requires_grad_() if c0 is not None else None
    h_start, c_start = h, c
    hs, cs = [], []
    for t in range(T):
        if is_lstm:
            h, c = cell(x64[t], None if h is None else (h, c))
            cs.append(c)
        else:
            h = cell(x64[t], h)
        hs.append(h)
    out_h = torch.stack(hs)
    loss = (out_h * d_h.double()).sum()
    if is_lstm:
        out_c = torch.stack(cs)
        loss = loss + (out_c * d_c.double()).sum()
    loss.backward()

    tensors.append(("out.h", out_h.detach()))
    if is_lstm:
        tensors.append(("out.c", out_c.detach()))
    tensors.append(("grad.x", x64.grad))
    if h_start is not None:
        tensors.append(("grad.h0", h_start.grad))
    if c_start is not None:
        tensors.append(("grad.c0", c_start.grad))
    tensors += [("grad." + name, p.grad) for name, p in params]
    return [(name, t.detach().to(torch.float32).contiguous()) for name, t in tensors]


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    seed = 100
    for mode in MODES:
        for suffix, shape in CASES:
            seed += 1
            config = dict(mode=mode, **shape)
            name = "%s-%s" % (mode.lower().replace("_", "-"), suffix)
            write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), run_case(config, seed), config)
            print("wrote", name)


if __name__ == "__main__":
    main()
