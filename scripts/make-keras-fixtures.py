#!/usr/bin/python3
"""A Keras GRU with reset_after=True (Keras 2.3+'s default, PyTorch's math) as
tensorflowjs_converter writes a Keras model: model.json with modelTopology.model_config,
weights named layer/forward_gru/gru_cell/kernel, bias [2, 3*units]. tfjs cannot build
this GRU (its only GRU is reset_after=False), so neither the file nor the reference
comes from tfjs: the file is written here in the converter's layout, and the reference
is PyTorch's nn.GRU (packed sequences for the mask) on the same weights, converted here
from Keras's layout (kernels [inputs, 3*units], gates z, r, h) to PyTorch's (r, z, n).

Usage (from the repo root): /usr/bin/python3 scripts/make-keras-fixtures.py
Writes test/fixtures/tfjs/keras-gru-reset-after/{model.json, group1-shard1of1.bin, expected.json}.
"""

import json
import os
import struct

import torch
from torch.nn.utils.rnn import pack_padded_sequence

OUT = os.path.join("test", "fixtures", "tfjs", "keras-gru-reset-after")
V, E, H, C, T = 8, 4, 3, 3, 6
LENGTHS = [6, 2, 4, 1]


def gru_config(name):
    return {"name": name, "trainable": True, "dtype": "float32", "return_sequences": False, "return_state": False,
            "go_backwards": False, "stateful": False, "unroll": False, "time_major": False, "units": H,
            "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True, "dropout": 0.0,
            "recurrent_dropout": 0.0, "implementation": 2, "reset_after": True}


def topology():
    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, T], "dtype": "float32", "sparse": False,
                                                 "ragged": False, "name": "embedding_input"}},
        {"class_name": "Embedding", "config": {"name": "embedding", "trainable": True, "batch_input_shape": [None, T],
                                               "dtype": "float32", "input_dim": V, "output_dim": E, "mask_zero": True,
                                               "input_length": T}},
        {"class_name": "Bidirectional", "config": {"name": "bidirectional", "trainable": True, "dtype": "float32",
                                                   "layer": {"class_name": "GRU", "config": gru_config("gru")},
                                                   "merge_mode": "concat"}},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": C,
                                           "activation": "softmax", "use_bias": True}},
    ]
    return {"keras_version": "2.11.0", "backend": "tensorflow",
            "model_config": {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}}


def main():
    torch.manual_seed(7)
    rand = lambda *shape: (torch.rand(*shape) - 0.5).float()
    keras = [
        ("embedding/embeddings", rand(V, E)),
        ("bidirectional/forward_gru/gru_cell/kernel", rand(E, 3 * H)),
        ("bidirectional/forward_gru/gru_cell/recurrent_kernel", rand(H, 3 * H)),
        ("bidirectional/forward_gru/gru_cell/bias", rand(2, 3 * H)),
        ("bidirectional/backward_gru/gru_cell/kernel", rand(E, 3 * H)),
        ("bidirectional/backward_gru/gru_cell/recurrent_kernel", rand(H, 3 * H)),
        ("bidirectional/backward_gru/gru_cell/bias", rand(2, 3 * H)),
        ("dense/kernel", rand(2 * H, C)),
        ("dense/bias", rand(C)),
    ]
    w = dict(keras)
    sequences = [[1 + int(torch.randint(V - 1, ())) for _ in range(n)] for n in LENGTHS]
    padded = [s + [0] * (T - len(s)) for s in sequences]

    # PyTorch reference, float64: gates z, r, h (Keras) -> r, z, n (PyTorch), kernels transposed.
    def torch_gates(m):  # m [rows, 3H] Keras -> [3H, rows] PyTorch
        z, r, h = m[:, :H], m[:, H:2 * H], m[:, 2 * H:]
        return torch.cat([r, z, h], dim=1).T.contiguous()

    gru = torch.nn.GRU(E, H, bidirectional=True).double()
    with torch.no_grad():
        for suffix, d in (("", "forward"), ("_reverse", "backward")):
            p = "bidirectional/%s_gru/gru_cell/" % d
            getattr(gru, "weight_ih_l0" + suffix).copy_(torch_gates(w[p + "kernel"]).double())
            getattr(gru, "weight_hh_l0" + suffix).copy_(torch_gates(w[p + "recurrent_kernel"]).double())
            getattr(gru, "bias_ih_l0" + suffix).copy_(torch_gates(w[p + "bias"][0:1]).flatten().double())
            getattr(gru, "bias_hh_l0" + suffix).copy_(torch_gates(w[p + "bias"][1:2]).flatten().double())
        x = w["embedding/embeddings"].double()[torch.tensor(padded)].transpose(0, 1)  # [T, B, E]
        _, hN = gru(pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False))
        context = torch.cat([hN[0], hN[1]], dim=1)  # Keras concat: forward, backward
        outputs = torch.softmax(context @ w["dense/kernel"].double() + w["dense/bias"].double(), dim=1)

    os.makedirs(OUT, exist_ok=True)
    data = b"".join(struct.pack("<%df" % t.numel(), *t.flatten().tolist()) for _, t in keras)
    with open(os.path.join(OUT, "group1-shard1of1.bin"), "wb") as f:
        f.write(data)
    manifest = [{"paths": ["group1-shard1of1.bin"],
                 "weights": [{"name": n, "shape": list(t.shape), "dtype": "float32"} for n, t in keras]}]
    model = {"format": "layers-model", "generatedBy": "keras v2.11.0", "convertedBy": "TensorFlow.js Converter v4.x (layout, written by this script)",
             "modelTopology": topology(), "weightsManifest": manifest}
    with open(os.path.join(OUT, "model.json"), "w") as f:
        json.dump(model, f, separators=(",", ":"))
    expected = {"note": "Keras Embedding(mask_zero) -> Bidirectional(GRU reset_after=True) -> Dense softmax; reference: PyTorch nn.GRU, float64",
                "input": {"type": "tokens", "vocab": V, "T": T, "lengths": LENGTHS}, "padded": padded,
                "sequences": sequences, "outputs": outputs.tolist()}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
