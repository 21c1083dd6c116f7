# PyTorch side of `npm run bench`: a long-lived worker that the Node harness
# (bench/main.ts) drives over stdin/stdout, one JSON object per line, so both
# contenders run in the same session, interleaved run by run. Not a test.
#
# Settings it gives PyTorch (its best on this kind of machine): the caller
# starts it with OMP_WAIT_POLICY=passive; each "threads" request sets both
# torch.set_num_threads(n) and OpenBLAS's own pool (openblas_set_num_threads,
# which torch.set_num_threads does not touch), since PyTorch's CPU RNNs run
# their GEMMs in OpenBLAS.
import ctypes
import ctypes.util
import json
import resource
import sys
import time


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import torch
except Exception as error:  # no torch: the harness prints a note and skips PyTorch
    reply({"ok": False, "error": "torch not importable: %s" % error})
    sys.exit(0)

torch.manual_seed(0)


def find_openblas():
    for name in ("libopenblas.so.0", "libopenblas.so", ctypes.util.find_library("openblas")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_set_num_threads.argtypes = [ctypes.c_int]
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


OPENBLAS = find_openblas()


def set_threads(n):
    torch.set_num_threads(n)
    if OPENBLAS is not None:
        OPENBLAS.openblas_set_num_threads(n)


def max_rss_kib():
    """Peak resident set of this process image (VmHWM); getrusage's ru_maxrss
    would include the parent's peak at fork time."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


CELLS = {"RNN": torch.nn.RNN, "GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM}


class RecurrentCase:
    """One layer at one shape: forward (no_grad) or forward+backward (all gradients)."""

    def __init__(self, cell, T, B, I, H, bidirectional=False):
        self.layer = CELLS[cell](I, H, bidirectional=bidirectional)
        D = 2 if bidirectional else 1
        self.x = torch.randn(T, B, I)
        self.x_grad = self.x.clone().requires_grad_(True)
        self.dy = torch.full((T, B, D * H), 1e-3)

    def fwd(self):
        with torch.no_grad():
            self.layer(self.x)

    def fwdbwd(self):
        self.layer.zero_grad(set_to_none=False)
        self.x_grad.grad = None
        y, _ = self.layer(self.x_grad)
        y.backward(self.dy)


class StepCase:
    """One streaming step: a single time step at batch B, carrying the state."""

    def __init__(self, cell, I, H, B=1):
        self.layer = CELLS[cell](I, H)
        self.x = torch.randn(1, B, I)
        h = torch.zeros(1, B, H)
        self.h = (h, torch.zeros(1, B, H)) if cell == "LSTM" else h

    def step(self):
        with torch.no_grad():
            _, self.h = self.layer(self.x, self.h)


class Seq2Seq(torch.nn.Module):
    """The g2p-sized model of bench/main.ts: embedding -> bidirectional GRU encoder ->
    tanh(Linear) bridge -> GRU decoder with Bahdanau attention, input [x_i ; c_i],
    head over [s_i ; c_i]. Teacher forcing, cross-entropy masked by target length."""

    def __init__(self, vin, vout, emb, hidden, attn):
        super().__init__()
        self.src_emb = torch.nn.Embedding(vin, emb)
        self.encoder = torch.nn.GRU(emb, hidden, bidirectional=True)
        self.bridge = torch.nn.Linear(2 * hidden, hidden)
        self.tgt_emb = torch.nn.Embedding(vout, emb)
        self.w_query = torch.nn.Linear(hidden, attn, bias=False)
        self.w_key = torch.nn.Linear(2 * hidden, attn)
        self.v = torch.nn.Parameter(torch.empty(attn).uniform_(-0.1, 0.1))
        self.cell = torch.nn.GRUCell(emb + 2 * hidden, hidden)
        self.head = torch.nn.Linear(hidden + 2 * hidden, vout)

    def forward(self, src, src_len, tgt_in, tgt_out):
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.src_emb(src), src_len, enforce_sorted=False)
        out, h_n = self.encoder(packed)
        memory, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=src.shape[0])  # [N,B,2H]
        s = torch.tanh(self.bridge(torch.cat([h_n[0], h_n[1]], dim=1)))
        keys = self.w_key(memory)  # [N,B,A]
        N = src.shape[0]
        pad = torch.arange(N).unsqueeze(1) >= src_len.unsqueeze(0)  # [N,B]
        x = self.tgt_emb(tgt_in)
        outputs = []
        for i in range(tgt_in.shape[0]):
            e = torch.tanh(self.w_query(s).unsqueeze(0) + keys) @ self.v  # [N,B]
            a = torch.softmax(e.masked_fill(pad, float("-inf")), dim=0)
            c = (a.unsqueeze(2) * memory).sum(0)  # [B,2H]
            s = self.cell(torch.cat([x[i], c], dim=1), s)
            outputs.append(torch.cat([s, c], dim=1))
        logits = self.head(torch.stack(outputs))  # [M,B,V]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                                                 ignore_index=-1)


class Seq2SeqCase:
    def __init__(self, batch):
        self.model = Seq2Seq(batch["vin"], batch["vout"], batch["emb"], batch["hidden"], batch["attn"])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        B = batch["B"]
        self.src = torch.tensor(batch["src"], dtype=torch.long).reshape(-1, B)
        self.src_len = torch.tensor(batch["src_len"], dtype=torch.long)
        self.tgt_in = torch.tensor(batch["tgt_in"], dtype=torch.long).reshape(-1, B)
        self.tgt_out = torch.tensor(batch["tgt_out"], dtype=torch.long).reshape(-1, B)

    def train_step(self):
        self.opt.zero_grad(set_to_none=False)
        loss = self.model(self.src, self.src_len, self.tgt_in, self.tgt_out)
        loss.backward()
        self.opt.step()


def time_runs(fn, runs):
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def sgemm_gflops(M, K, N, runs):
    a, b = torch.randn(M, K), torch.randn(N, K)
    c = torch.empty(M, N)
    flops = 2.0 * M * N * K
    inner = max(1, int(2e8 / flops))
    for _ in range(3):
        torch.mm(a, b.t(), out=c)
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, b.t(), out=c)
        rates.append(flops * inner / (time.perf_counter() - start) / 1e9)
    return rates


def main():
    cases = {}
    reply({
        "ok": True, "torch": torch.__version__,
        "openblas": OPENBLAS.openblas_get_config().decode() if OPENBLAS is not None else None,
        "python": sys.version.split()[0], "rss_kib": max_rss_kib(),
    })
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "threads":
                set_threads(req["n"])
                reply({"ok": True})
            elif op == "recurrent":
                cases[req["id"]] = RecurrentCase(req["cell"], req["T"], req["B"], req["I"], req["H"],
                                                 req.get("bidirectional", False))
                reply({"ok": True})
            elif op == "step":
                cases[req["id"]] = StepCase(req["cell"], req["I"], req["H"], req.get("B", 1))
                reply({"ok": True})
            elif op == "seq2seq":
                cases[req["id"]] = Seq2SeqCase(req["batch"])
                reply({"ok": True})
            elif op == "run":
                fn = getattr(cases[req["id"]], req["pass"])
                reply({"ok": True, "ms": time_runs(fn, req.get("runs", 1))})
            elif op == "drop":
                cases.pop(req["id"], None)
                reply({"ok": True})
            elif op == "sgemm":
                reply({"ok": True, "gflops": sgemm_gflops(req["M"], req["K"], req["N"], req.get("runs", 7))})
            elif op == "rss":
                reply({"ok": True, "rss_kib": max_rss_kib()})
            elif op == "quit":
                reply({"ok": True})
                return
            else:
                reply({"ok": False, "error": "unknown op %s" % op})
        except Exception as error:  # report, keep serving
            reply({"ok": False, "error": "%s: %s" % (type(error).__name__, error)})


def rss_mode():
    """--rss: one request on stdin, 3 training steps at 1 thread in this fresh process, peak RSS out."""
    req = json.loads(sys.stdin.readline())
    set_threads(1)
    if req["kind"] == "recurrent":
        case = RecurrentCase(req["cell"], req["T"], req["B"], req["I"], req["H"])
        step = case.fwdbwd
    else:
        step = Seq2SeqCase(req["batch"]).train_step
    before = max_rss_kib()
    for _ in range(3):
        step()
    print(json.dumps({"before_kib": before, "peak_kib": max_rss_kib()}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        rss_mode()
    else:
        main()
