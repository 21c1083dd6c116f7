#!/usr/bin/python3
"""Generate PyTorch reference fixtures for rnnkit's AttentionDecoder.

Usage (from the repo root; needs PyTorch, e.g. /usr/bin/python3):

    /usr/bin/python3 scripts/make-attention-fixtures.py

Writes one safetensors file per case into test/fixtures/attention/. Inputs,
parameters and upstream gradients are drawn as float32 (torch.manual_seed per
case); the forward and backward passes then run in float64, so every stored
result is a float64 reference rounded to float32. Output is deterministic:
running the script twice produces identical bytes.

The decoder (one layer; M decoder steps, N source steps, batch B), with
s_{-1} = h0 and, for i = 0..M-1:
    e_ij = score(s_{i-1}, h_j) for j < sourceLengths[b]
        bahdanau:      v . tanh(W_q s + W_k h_j + b_k)
        luong-dot:     s . h_j
        luong-general: s . (W h_j)
    a_i = softmax_j(e_i) (0 at j >= sourceLengths[b]);  c_i = sum_j a_ij h_j
    s_i = cell([x_i ; c_i], s_{i-1})      (nn.RNNCell / nn.GRUCell / nn.LSTMCell)
    output_i = [s_i ; c_i]
At padded decoder steps (i >= targetLengths[b]) the state (and LSTM cell state)
is carried unchanged and output_i and a_i are 0.
"""

import importlib.util
import math
import os

import torch
import torch.nn as nn

# One safetensors writer for every fixture script: make-fixtures.py's (its file name is not a module name).
_spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(os.path.dirname(__file__), "make-fixtures.py"))
_make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_make_fixtures)
write_safetensors = _make_fixtures.write_safetensors

OUT_DIR = os.path.join("test", "fixtures", "attention")

# (file name, config without M/N/B, M, N, source lengths, target lengths).
# Lengths are unsorted; every case with B = 3 includes a source length 1 and N;
# the "-nopad" cases have no target padding (used by the step() test), the
# others include a target length 1 and M.
CASES = [
    ("gru-bahdanau", dict(cell="gru", nonlinearity="tanh", attention="bahdanau",
                          inputSize=3, memorySize=5, hiddenSize=4, attentionSize=6), 5, 6, [4, 1, 6], [2, 5, 1]),
    ("lstm-bahdanau", dict(cell="lstm", nonlinearity="tanh", attention="bahdanau",
                           inputSize=3, memorySize=7, hiddenSize=4, attentionSize=6), 4, 5, [1, 5, 3], [4, 1, 3]),
    ("gru-luong-general", dict(cell="gru", nonlinearity="tanh", attention="luong-general",
                               inputSize=3, memorySize=7, hiddenSize=4, attentionSize=4), 5, 6, [6, 2, 1], [1, 3, 5]),
    ("lstm-luong-general", dict(cell="lstm", nonlinearity="tanh", attention="luong-general",
                                inputSize=5, memorySize=3, hiddenSize=6, attentionSize=6), 4, 6, [3, 6, 1], [2, 4, 1]),
    ("gru-luong-dot", dict(cell="gru", nonlinearity="tanh", attention="luong-dot",
                           inputSize=3, memorySize=5, hiddenSize=5, attentionSize=5), 4, 5, [3, 5, 1], [4, 1, 2]),
    ("lstm-luong-dot", dict(cell="lstm", nonlinearity="tanh", attention="luong-dot",
                            inputSize=2, memorySize=3, hiddenSize=3, attentionSize=3), 5, 4, [2, 1, 4], [3, 5, 1]),
    ("rnn-tanh-bahdanau-nopad", dict(cell="rnn", nonlinearity="tanh", attention="bahdanau",
                                     inputSize=3, memorySize=5, hiddenSize=4, attentionSize=6), 5, 4, [2, 4, 1], [5, 5, 5]),
    ("rnn-relu-luong-general", dict(cell="rnn", nonlinearity="relu", attention="luong-general",
                                    inputSize=3, memorySize=7, hiddenSize=4, attentionSize=4), 4, 6, [6, 1, 3], [3, 1, 4]),
    ("lstm-luong-general-nopad", dict(cell="lstm", nonlinearity="tanh", attention="luong-general",
                                      inputSize=3, memorySize=5, hiddenSize=4, attentionSize=4), 3, 5, [5, 1, 2], [3, 3, 3]),
    ("gru-bahdanau-nopad", dict(cell="gru", nonlinearity="tanh", attention="bahdanau",
                                inputSize=4, memorySize=7, hiddenSize=3, attentionSize=5), 4, 6, [1, 6, 4], [4, 4, 4]),
]


def build_cell(cfg):
    """The PyTorch cell for a config (float32, default init U(+-1/sqrt(H)))."""
    size, H = cfg["inputSize"] + cfg["memorySize"], cfg["hiddenSize"]
    if cfg["cell"] == "gru":
        return nn.GRUCell(size, H)
    if cfg["cell"] == "lstm":
        return nn.LSTMCell(size, H)
    return nn.RNNCell(size, H, nonlinearity=cfg["nonlinearity"])


def build_attention(cfg):
    """Attention parameters as an ordered list of (name, float32 tensor), PyTorch-style init."""
    H, E, A = cfg["hiddenSize"], cfg["memorySize"], cfg["attentionSize"]
    if cfg["attention"] == "bahdanau":
        query = nn.Linear(H, A, bias=False)   # U(+-1/sqrt(H))
        key = nn.Linear(E, A)                 # U(+-1/sqrt(E)), bias too
        v = torch.empty(A).uniform_(-1 / math.sqrt(A), 1 / math.sqrt(A))
        return [("attention.query.weight", query.weight.detach().clone()),
                ("attention.key.weight", key.weight.detach().clone()),
                ("attention.key.bias", key.bias.detach().clone()),
                ("attention.v", v)]
    if cfg["attention"] == "luong-general":
        general = nn.Linear(E, H, bias=False)  # U(+-1/sqrt(E))
        return [("attention.weight", general.weight.detach().clone())]
    return []


def decode(cfg, cell, att, x, memory, src, tgt, h0, c0):
    """Float64 forward of the whole decoder. Returns output, weights, hN, cN."""
    M, B = x.shape[0], x.shape[1]
    N = memory.shape[0]
    is_lstm = cfg["cell"] == "lstm"
    kind = cfg["attention"]
    src_mask = torch.arange(N).unsqueeze(1) < torch.tensor(src).unsqueeze(0)    # [N,B]
    if kind == "bahdanau":
        keys = memory @ att["attention.key.weight"].t() + att["attention.key.bias"]  # [N,B,A]
    elif kind == "luong-general":
        keys = memory @ att["attention.weight"].t()                                # [N,B,H]
    else:
        keys = memory                                                              # [N,B,H]
    s, c = h0, c0
    outputs, weights = [], []
    for i in range(M):
        if kind == "bahdanau":
            q = s @ att["attention.query.weight"].t()                              # [B,A]
            scores = torch.tanh(q.unsqueeze(0) + keys) @ att["attention.v"]        # [N,B]
        else:
            scores = (s.unsqueeze(0) * keys).sum(-1)                               # [N,B]
        scores = scores.masked_fill(~src_mask, float("-inf"))
        a = torch.softmax(scores, dim=0)                                           # [N,B]
        ctx = (a.unsqueeze(-1) * memory).sum(0)                                    # [B,E]
        inp = torch.cat([x[i], ctx], dim=1)
        active = (torch.tensor(tgt) > i).unsqueeze(1)                              # [B,1]
        if is_lstm:
            s_new, c_new = cell(inp, (s, c))
            c = torch.where(active, c_new, c)
        else:
            s_new = cell(inp, s)
        s = torch.where(active, s_new, s)
        zero = torch.zeros((), dtype=torch.float64)
        outputs.append(torch.where(active, torch.cat([s_new, ctx], dim=1), zero))
        weights.append(torch.where(active, a.t(), zero))                          # [B,N]
    return torch.stack(outputs), torch.stack(weights), s.unsqueeze(0), (c.unsqueeze(0) if is_lstm else None)


def run_case(cfg, src, tgt, seed):
    """Draw inputs (float32), run forward+backward in float64.

    Returns an ordered list of (name, float32 tensor)."""
    torch.manual_seed(seed)
    M, N, B = cfg["M"], cfg["N"], cfg["B"]
    X, E, H = cfg["inputSize"], cfg["memorySize"], cfg["hiddenSize"]
    is_lstm = cfg["cell"] == "lstm"

    # Draw everything in float32 first, in a fixed order.
    cell = build_cell(cfg)
    cell_params = [(name + "_l0", p.detach().clone()) for name, p in cell.named_parameters()]
    assert [n for n, _ in cell_params] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    params = cell_params + build_attention(cfg)
    x = torch.randn(M, B, X)
    memory = torch.randn(N, B, E)
    h0 = torch.randn(1, B, H) * 0.5
    c0 = torch.randn(1, B, H) * 0.5 if is_lstm else None
    d_output = torch.randn(M, B, H + E)
    d_hN = torch.randn(1, B, H)
    d_cN = torch.randn(1, B, H) if is_lstm else None

    tensors = [("input.x", x), ("input.memory", memory),
               ("input.sourceLengths", torch.tensor(src, dtype=torch.float32)),
               ("input.targetLengths", torch.tensor(tgt, dtype=torch.float32)),
               ("input.h0", h0)]
    if c0 is not None:
        tensors.append(("input.c0", c0))
    tensors += [("param." + name, p) for name, p in params]
    tensors.append(("dout.output", d_output))
    tensors.append(("dout.hN", d_hN))
    if d_cN is not None:
        tensors.append(("dout.cN", d_cN))

    # Reference computation in float64: the cell's own weights, copied in.
    cell.double()
    att = {name: p.double().requires_grad_() for name, p in params if name.startswith("attention.")}
    x64 = x.double().requires_grad_()
    m64 = memory.double().requires_grad_()
    h64 = h0.double().requires_grad_()
    c64 = c0.double().requires_grad_() if c0 is not None else None
    output, weights, hN, cN = decode(cfg, cell, att, x64, m64, src, tgt, h64[0], c64[0] if is_lstm else None)

    loss = (output * d_output.double()).sum() + (hN * d_hN.double()).sum()
    if is_lstm:
        loss = loss + (cN * d_cN.double()).sum()
    loss.backward()

    tensors.append(("out.output", output.detach()))
    tensors.append(("out.weights", weights.detach()))
    tensors.append(("out.hN", hN.detach()))
    if is_lstm:
        tensors.append(("out.cN", cN.detach()))
    tensors.append(("grad.x", x64.grad))
    tensors.append(("grad.memory", m64.grad))
    tensors.append(("grad.h0", h64.grad))
    if is_lstm:
        tensors.append(("grad.c0", c64.grad))
    cell_grads = dict(cell.named_parameters())
    for name, _ in params:
        g = att[name].grad if name.startswith("attention.") else cell_grads[name[:-len("_l0")]].grad
        tensors.append(("grad." + name, g))
    return [(name, t.detach().to(torch.float32).contiguous()) for name, t in tensors]


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    for seed, (name, shape, M, N, src, tgt) in enumerate(CASES, start=1):
        B = len(src)
        assert len(tgt) == B and all(1 <= n <= N for n in src) and all(1 <= m <= M for m in tgt)
        assert shape["attention"] != "luong-dot" or shape["memorySize"] == shape["hiddenSize"]
        config = dict(shape, M=M, N=N, B=B)
        tensors = run_case(config, src, tgt, 1000 + seed)
        write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), tensors, config)
        print("wrote", name)


if __name__ == "__main__":
    main()
