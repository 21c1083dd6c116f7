#!/usr/bin/python3
"""Generate PyTorch reference fixtures for rnnkit's building blocks.

Usage (from the repo root; needs PyTorch, e.g. /usr/bin/python3):

    /usr/bin/python3 scripts/make-block-fixtures.py

Writes small safetensors files into test/fixtures/blocks/ (see its README.md):
nn.Linear and nn.Embedding forward/backward, cross-entropy with label
smoothing and masked rows, MSE, 5 steps each of SGD / Adam / AdamW,
clip_grad_norm_ and the learning-rate schedulers. Inputs are drawn as float32
(torch.manual_seed per file); references are computed in float64 and stored
rounded to float32. Deterministic: two runs write identical bytes.
"""

import importlib.util
import os
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT_DIR = os.path.join("test", "fixtures", "blocks")

# The safetensors writer of make-fixtures.py, so both scripts write the same format.
_spec = importlib.util.spec_from_file_location(
    "make_fixtures", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-fixtures.py"))
_make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_make_fixtures)


def write(name, tensors, config):
    tensors = [(k, t.detach().to(torch.float32).contiguous()) for k, t in tensors]
    _make_fixtures.write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), tensors, config)
    print("wrote", name)


def linear_case(name, seed, bias):
    torch.manual_seed(seed)
    I, O, lead = 4, 5, (2, 3)
    module = nn.Linear(I, O, bias=bias)
    x = torch.randn(*lead, I)
    dy = torch.randn(*lead, O)
    params = [(n, p.detach().clone()) for n, p in module.named_parameters()]
    module.double()
    x64 = x.double().requires_grad_()
    y = module(x64)
    (y * dy.double()).sum().backward()
    tensors = [("input.x", x)] + [("param." + n, p) for n, p in params] + [("dout.y", dy), ("out.y", y),
                                                                         ("grad.x", x64.grad)]
    tensors += [("grad." + n, p.grad) for n, p in module.named_parameters()]
    write(name, tensors, {"inFeatures": I, "outFeatures": O, "bias": bias})


def embedding_case(seed):
    torch.manual_seed(seed)
    V, E, pad = 7, 3, 2
    module = nn.Embedding(V, E, padding_idx=pad)  # padding row starts at zero
    ids = torch.tensor([[0, 2, 5, 2], [6, 0, 0, 3], [2, 1, 4, 6]])  # repeats, and the padding id
    dout = torch.randn(3, 4, E)
    weight = module.weight.detach().clone()
    module.double()
    out = module(ids)
    (out * dout.double()).sum().backward()
    tensors = [("input.ids", ids.float()), ("param.weight", weight), ("dout.out", dout), ("out.out", out),
               ("grad.weight", module.weight.grad)]
    write("embedding-padding", tensors, {"numEmbeddings": V, "embeddingDim": E, "paddingIdx": pad})


def cross_entropy_mask_case(seed):
    """0/1 row mask, compared with PyTorch's own ignore_index mean."""
    torch.manual_seed(seed)
    T, B, V, eps = 3, 4, 6, 0.1
    logits = torch.randn(T, B, V) * 2
    targets = torch.randint(0, V, (T, B))
    targets[2, 1] = -1  # padded steps: ignored, placeholder target
    targets[1, 3] = -1
    targets[2, 3] = -1
    mask = (targets != -1).float()
    l64 = logits.double().requires_grad_()
    loss = F.cross_entropy(l64.reshape(-1, V), targets.reshape(-1), ignore_index=-1, label_smoothing=eps)
    loss.backward()
    tensors = [("input.logits", logits), ("input.targets", targets.float()), ("input.weights", mask),
               ("out.loss_mean", loss.reshape(1)), ("grad.logits_mean", l64.grad),
               ("out.log_softmax", torch.log_softmax(logits.double(), dim=-1))]
    write("cross-entropy-mask", tensors, {"labelSmoothing": eps, "count": int(mask.sum().item())})


def cross_entropy_weighted_case(seed):
    """Non-unit row weights: PyTorch's per-row losses, weighted; mean divides by the weight total."""
    torch.manual_seed(seed)
    N, V, eps = 5, 4, 0.2
    logits = torch.randn(N, V)
    targets = torch.tensor([3, 0, -1, 1, 2])
    weights = torch.tensor([1.0, 0.5, 0.0, 2.0, 0.25])
    tensors = [("input.logits", logits), ("input.targets", targets.float()), ("input.weights", weights)]
    for reduction in ("sum", "mean"):
        l64 = logits.double().requires_grad_()
        rows = F.cross_entropy(l64, targets, ignore_index=-1, label_smoothing=eps, reduction="none")
        loss = (rows * weights.double()).sum()
        if reduction == "mean":
            loss = loss / weights.double().sum()
        loss.backward()
        tensors += [("out.loss_" + reduction, loss.reshape(1)), ("grad.logits_" + reduction, l64.grad)]
    write("cross-entropy-weighted", tensors, {"labelSmoothing": eps, "count": float(weights.sum())})


def mse_case(seed):
    torch.manual_seed(seed)
    N, Fe = 4, 3
    pred = torch.randn(N, Fe)
    target = torch.randn(N, Fe)
    weights = torch.tensor([1.0, 0.0, 0.5, 2.0])
    tensors = [("input.pred", pred), ("input.target", target), ("input.weights", weights)]
    p64 = pred.double().requires_grad_()
    loss = F.mse_loss(p64, target.double())  # PyTorch's own mean
    loss.backward()
    tensors += [("out.loss_plain", loss.reshape(1)), ("grad.pred_plain", p64.grad)]
    p64 = pred.double().requires_grad_()
    rows = F.mse_loss(p64, target.double(), reduction="none").sum(dim=1)
    loss = (rows * weights.double()).sum() / (weights.double().sum() * Fe)
    loss.backward()
    tensors += [("out.loss_weighted", loss.reshape(1)), ("grad.pred_weighted", p64.grad)]
    write("mse", tensors, {"features": Fe})


def optimizer_case(name, seed, make, config, state_names):
    """5 steps on a 10-vector with given gradients, in float64."""
    torch.manual_seed(seed)
    n, steps = 10, 5
    p0 = torch.randn(n)
    grads = [torch.randn(n) for _ in range(steps)]
    p = p0.double().clone().requires_grad_()
    opt = make([p])
    tensors = [("input.params", p0)]
    for k, g in enumerate(grads, start=1):
        p.grad = g.double().clone()
        opt.step()
        tensors += [("input.grad%d" % k, g), ("out.params%d" % k, p.detach().clone())]
    state = opt.state[p]
    tensors += [("state." + s, state[s]) for s in state_names]
    write(name, tensors, config)


def clip_case(seed):
    torch.manual_seed(seed)
    tensors = []
    config = {}
    for tag, scale, max_norm in (("big", 3.0, 1.5), ("small", 0.1, 5.0)):
        g = torch.randn(12) * scale
        p = torch.zeros(12, dtype=torch.float64, requires_grad=True)
        p.grad = g.double().clone()
        norm = torch.nn.utils.clip_grad_norm_([p], max_norm)
        tensors += [("input.grads_" + tag, g), ("out.grads_" + tag, p.grad), ("out.norm_" + tag, norm.reshape(1))]
        config["maxNorm_" + tag] = max_norm
    write("clip-grad-norm", tensors, config)


def schedule_values(make_scheduler, steps=14, base_lr=0.5):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def schedules_case():
    """Learning rates per step, kept as exact doubles in the metadata."""
    S = torch.optim.lr_scheduler
    # SequentialLR steps its children with an explicit epoch, which 1.13 warns about; the values are right.
    warnings.filterwarnings("ignore", message="The epoch parameter", category=UserWarning)
    config = {
        "baseLr": 0.5,
        "stepDecay": {"stepSize": 3, "gamma": 0.5,
                      "lrs": schedule_values(lambda o: S.StepLR(o, step_size=3, gamma=0.5))},
        "cosine": {"totalSteps": 10, "minLr": 0.05,
                   "lrs": schedule_values(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.05), steps=11)},
        "warmupCosine": {"warmupSteps": 4, "startFactor": 0.1, "totalSteps": 8, "minLr": 0.0,
                         "lrs": schedule_values(lambda o: S.SequentialLR(o, [
                             S.LinearLR(o, start_factor=0.1, total_iters=4),
                             S.CosineAnnealingLR(o, T_max=8, eta_min=0.0)], milestones=[4]), steps=13)},
    }
    write("schedules", [], config)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    linear_case("linear", 1, True)
    linear_case("linear-nobias", 2, False)
    embedding_case(3)
    cross_entropy_mask_case(4)
    cross_entropy_weighted_case(5)
    mse_case(6)
    sgd_nesterov = dict(lr=0.1, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.01)
    optimizer_case("sgd-nesterov", 7, lambda ps: torch.optim.SGD(ps, **sgd_nesterov), sgd_nesterov,
                   ["momentum_buffer"])
    sgd_damp = dict(lr=0.05, momentum=0.8, dampening=0.3, nesterov=False, weight_decay=0.0)
    optimizer_case("sgd-dampening", 8, lambda ps: torch.optim.SGD(ps, **sgd_damp), sgd_damp, ["momentum_buffer"])
    adam = dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    optimizer_case("adam", 9, lambda ps: torch.optim.Adam(ps, foreach=False, **adam), adam,
                   ["exp_avg", "exp_avg_sq"])
    adamw = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
    optimizer_case("adamw", 10, lambda ps: torch.optim.AdamW(ps, foreach=False, **adamw), adamw,
                   ["exp_avg", "exp_avg_sq"])
    clip_case(11)
    schedules_case()


if __name__ == "__main__":
    main()
