#!/usr/bin/python3
"""Generate PyTorch reference fixtures for rnnkit's recurrent layers.

Usage (from the repo root; needs PyTorch, e.g. /usr/bin/python3):

    /usr/bin/python3 scripts/make-fixtures.py

Writes one safetensors file per case into test/fixtures/recurrent/. Inputs,
parameters and upstream gradients are drawn as float32 (torch.manual_seed per
case); the forward and backward passes then run in float64, so every stored
result is a float64 reference rounded to float32. Output is deterministic:
running the script twice produces identical bytes.
"""

import json
import os
import struct

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT_DIR = os.path.join("test", "fixtures", "recurrent")

# (file-name suffix, shape config, lengths or None); every mode gets every case.
CASE_SHAPES = [
    ("l1-uni", dict(numLayers=1, bidirectional=False, bias=True, inputSize=4, hiddenSize=3, T=5, B=3, hasH0=False), None),
    ("l1-uni-h0-lengths", dict(numLayers=1, bidirectional=False, bias=True, inputSize=5, hiddenSize=7, T=6, B=4, hasH0=True), [6, 1, 4, 3]),
    ("l2-bi-h0-lengths", dict(numLayers=2, bidirectional=True, bias=True, inputSize=3, hiddenSize=4, T=5, B=3, hasH0=True), [2, 5, 1]),
    ("l3-uni-lengths", dict(numLayers=3, bidirectional=False, bias=True, inputSize=4, hiddenSize=5, T=4, B=2, hasH0=False), [4, 2]),
    ("l1-bi-odd", dict(numLayers=1, bidirectional=True, bias=True, inputSize=5, hiddenSize=7, T=7, B=2, hasH0=True), None),
    ("l2-bi-nobias", dict(numLayers=2, bidirectional=True, bias=False, inputSize=3, hiddenSize=3, T=3, B=1, hasH0=True), [3]),
]
# GRU_RESET_BEFORE last, so the seeds (and bytes) of the other modes' files stay as they were.
MODES = ["RNN_TANH", "RNN_RELU", "GRU", "LSTM", "GRU_RESET_BEFORE"]


def build_module(cfg):
    """Create the PyTorch module for a config (float32, default init)."""
    common = dict(
        input_size=cfg["inputSize"],
        hidden_size=cfg["hiddenSize"],
        num_layers=cfg["numLayers"],
        bias=cfg["bias"],
        batch_first=False,
        dropout=0.0,
        bidirectional=cfg["bidirectional"],
    )
    mode = cfg["mode"]
    if mode == "RNN_TANH":
        return nn.RNN(nonlinearity="tanh", **common)
    if mode == "RNN_RELU":
        return nn.RNN(nonlinearity="relu", **common)
    if mode in ("GRU", "GRU_RESET_BEFORE"):  # the second only lends its parameters (reset_before_gru)
        return nn.GRU(**common)
    if mode == "LSTM":
        return nn.LSTM(**common)
    raise ValueError(mode)


def reset_before_gru(m, x, h0, lengths, reset_after=False):
    """Keras reset_after=False GRU on nn.GRU m's parameters (PyTorch has none):
    n = tanh(W_in x + b_in + W_hn (r * h) + b_hn), written out step by step for autograd.
    Packed-sequence semantics: a padded step keeps the state and outputs zeros, so the
    reverse direction starts at each sequence's last valid step from h0. reset_after=True
    gives PyTorch's GRU through the same loop: the script checks it against nn.GRU."""
    T, B, _ = x.shape
    H, D = m.hidden_size, 2 if m.bidirectional else 1
    lens = lengths if lengths is not None else [T] * B
    mask = torch.tensor([[[1.0] if t < lens[b] else [0.0] for b in range(B)] for t in range(T)], dtype=x.dtype)
    zeros = torch.zeros(3 * H, dtype=x.dtype)
    inp, finals = x, []
    for layer in range(m.num_layers):
        outs = []
        for d in range(D):
            sfx = "l%d%s" % (layer, "_reverse" if d else "")
            w_ih, w_hh = getattr(m, "weight_ih_" + sfx), getattr(m, "weight_hh_" + sfx)
            b_ih = getattr(m, "bias_ih_" + sfx) if m.bias else zeros
            b_hh = getattr(m, "bias_hh_" + sfx) if m.bias else zeros
            h = h0[layer * D + d] if h0 is not None else torch.zeros(B, H, dtype=x.dtype)
            ys = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                gi = inp[t] @ w_ih.T + b_ih
                r = torch.sigmoid(gi[:, :H] + h @ w_hh[:H].T + b_hh[:H])
                z = torch.sigmoid(gi[:, H:2 * H] + h @ w_hh[H:2 * H].T + b_hh[H:2 * H])
                if reset_after:
                    n = torch.tanh(gi[:, 2 * H:] + r * (h @ w_hh[2 * H:].T + b_hh[2 * H:]))
                else:
                    n = torch.tanh(gi[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T + b_hh[2 * H:])
                h_new = (1 - z) * n + z * h
                h = mask[t] * h_new + (1 - mask[t]) * h
                ys[t] = mask[t] * h_new
            outs.append(torch.stack(ys))
            finals.append(h)
        inp = torch.cat(outs, dim=-1)
    return inp, torch.stack(finals)


def run_case(cfg, lengths, seed):
    """Draw inputs (float32), run forward+backward in float64.

    Returns an ordered list of (name, float32 tensor)."""
    torch.manual_seed(seed)
    T, B, I, H = cfg["T"], cfg["B"], cfg["inputSize"], cfg["hiddenSize"]
    LD = cfg["numLayers"] * (2 if cfg["bidirectional"] else 1)
    DH = (2 if cfg["bidirectional"] else 1) * H
    is_lstm = cfg["mode"] == "LSTM"

    # Draw everything in float32 first, in a fixed order.
    module = build_module(cfg)
    x = torch.randn(T, B, I)
    h0 = torch.randn(LD, B, H) * 0.5 if cfg["hasH0"] else None
    c0 = torch.randn(LD, B, H) * 0.5 if cfg["hasH0"] and is_lstm else None
    d_output = torch.randn(T, B, DH)
    d_hN = torch.randn(LD, B, H)
    d_cN = torch.randn(LD, B, H) if is_lstm else None

    tensors = [("input.x", x)]
    if h0 is not None:
        tensors.append(("input.h0", h0))
    if c0 is not None:
        tensors.append(("input.c0", c0))
    if lengths is not None:
        tensors.append(("input.lengths", torch.tensor(lengths, dtype=torch.float32)))
    params = list(module.named_parameters())
    tensors += [("param." + name, p.detach().clone()) for name, p in params]
    tensors.append(("dout.output", d_output))
    tensors.append(("dout.hN", d_hN))
    if d_cN is not None:
        tensors.append(("dout.cN", d_cN))

    # Reference computation in float64.
    module.double()
    x64 = x.double().requires_grad_()
    h64 = h0.double().requires_grad_() if h0 is not None else None
    c64 = c0.double().requires_grad_() if c0 is not None else None
    state = None
    if h64 is not None:
        state = (h64, c64) if is_lstm else h64

    if cfg["mode"] == "GRU_RESET_BEFORE":
        output, hidden = reset_before_gru(module, x64, h64, lengths)
    else:
        seq = x64
        if lengths is not None:
            seq = pack_padded_sequence(x64, torch.tensor(lengths, dtype=torch.int64), enforce_sorted=False)
        output, hidden = module(seq, state)
        if lengths is not None:
            output, _ = pad_packed_sequence(output, total_length=T)
    hN, cN = hidden if is_lstm else (hidden, None)
    if cfg["mode"] == "GRU":  # the loop behind GRU_RESET_BEFORE, in PyTorch's math, is nn.GRU
        with torch.no_grad():
            loop_out, loop_h = reset_before_gru(module, x64, h64, lengths, reset_after=True)
        assert torch.allclose(loop_out, output, atol=1e-12) and torch.allclose(loop_h, hN, atol=1e-12)

    loss = (output * d_output.double()).sum() + (hN * d_hN.double()).sum()
    if is_lstm:
        loss = loss + (cN * d_cN.double()).sum()
    loss.backward()

    tensors.append(("out.output", output.detach()))
    tensors.append(("out.hN", hN.detach()))
    if is_lstm:
        tensors.append(("out.cN", cN.detach()))
    tensors.append(("grad.x", x64.grad))
    if h64 is not None:
        tensors.append(("grad.h0", h64.grad))
    if c64 is not None:
        tensors.append(("grad.c0", c64.grad))
    tensors += [("grad." + name, p.grad) for name, p in params]
    return [(name, t.detach().to(torch.float32).contiguous()) for name, t in tensors]


def write_safetensors(path, tensors, config):
    """Write (name, float32 tensor) pairs as a safetensors file."""
    header = {"__metadata__": {"config": json.dumps(config, separators=(",", ":"))}}
    chunks = []
    offset = 0
    for name, t in tensors:
        assert t.dtype == torch.float32 and name not in header
        data = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * ((8 - (8 + len(header_bytes)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for data in chunks:
            f.write(data)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    seed = 0
    for mode in MODES:
        for suffix, shape, lengths in CASE_SHAPES:
            seed += 1
            config = {
                "mode": mode,
                "inputSize": shape["inputSize"],
                "hiddenSize": shape["hiddenSize"],
                "numLayers": shape["numLayers"],
                "bidirectional": shape["bidirectional"],
                "bias": shape["bias"],
                "T": shape["T"],
                "B": shape["B"],
                "hasH0": shape["hasH0"],
                "hasLengths": lengths is not None,
            }
            name = "%s-%s" % (mode.lower().replace("_", "-"), suffix)
            tensors = run_case(config, lengths, seed)
            write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), tensors, config)
            print("wrote", name)


if __name__ == "__main__":
    main()
