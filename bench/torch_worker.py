# PyTorch side of `npm run bench`: a long-lived worker that the Node harness
# (bench/main.ts) drives over stdin/stdout, one JSON object per line, so both
# contenders run in the same session, interleaved run by run. Not a test.
# Besides its own PyTorch models, it decodes rnnkit EncoderDecoder files
# (op "decode", then "run" pass "predict" and op "tokens"; see DecodeCase).
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
import struct
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


# ---------------------------------------------------------------- batched inference of an rnnkit model
#
# The "decode" op: PyTorch's batched twin of EncoderDecoder.predict for a model file rnnkit wrote
# (model.save). Mirrors lib/structures/encoder-decoder.ts (encoder, context), bridge.ts,
# attentive-decoder.ts, layers/attention-decoder.ts with native/kernels/attention.h (Bahdanau step),
# and decoding.ts (greedy sampleDecode, beamSearch), written as a PyTorch user would: sources sorted
# by length, batches of batchSize, packed encoder, keys once per batch, masked softmax.

SAFETENSORS_DTYPES = {"F32": torch.float32, "F64": torch.float64}
RNNKIT_CELLS = {"gru": (torch.nn.GRU, torch.nn.GRUCell), "lstm": (torch.nn.LSTM, torch.nn.LSTMCell)}
NO_GRAD = torch.inference_mode if hasattr(torch, "inference_mode") else torch.no_grad


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file, parsed by hand: u64 LE header length,
    JSON header {name: {dtype, shape, data_offsets}, __metadata__: {str: str}}, raw data."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: not a safetensors file (%d bytes)" % (path, len(raw)))
    (length,) = struct.unpack("<Q", raw[:8])
    if 8 + length > len(raw):
        raise ValueError("%s: header length %d runs past the end of the file" % (path, length))
    header = json.loads(raw[8:8 + length].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    data = memoryview(raw)[8 + length:]
    if sys.byteorder != "little":
        raise RuntimeError("safetensors data is little-endian; this reader assumes a little-endian machine")
    tensors = {}
    for name, entry in header.items():
        dtype = SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError("%s: tensor %s has dtype %s (only F32 and F64 are read)" % (path, name, entry["dtype"]))
        begin, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"]).to(torch.float32)
    return tensors, metadata


def check_rnnkit_config(path, metadata):
    """The model's config, or a ValueError saying why the decode op cannot run this model."""
    if metadata.get("kind") != "EncoderDecoder":
        raise ValueError("%s: expected an rnnkit EncoderDecoder, got kind %r" % (path, metadata.get("kind")))
    config = json.loads(metadata["config"])
    enc, dec = config["encoder"], config["decoder"]
    problems = []
    if config.get("attention") != "bahdanau":
        problems.append("attention %r (only 'bahdanau')" % config.get("attention"))
    if config["input"].get("type") != "tokens":
        problems.append("input type %r (only 'tokens')" % config["input"].get("type"))
    if enc.get("numLayers", 1) != 1 or not enc.get("bidirectional", False):
        problems.append("encoder of %s layer(s), bidirectional=%s (only a 1-layer bidirectional encoder)"
                        % (enc.get("numLayers", 1), enc.get("bidirectional", False)))
    for name, spec in (("encoder", enc), ("decoder", dec)):
        if spec["cell"] not in RNNKIT_CELLS:
            problems.append("%s cell %r (only 'gru' or 'lstm')" % (name, spec["cell"]))
    if problems:
        raise ValueError("%s: the PyTorch decoder does not support this model: %s" % (path, "; ".join(problems)))
    return config


# rnnkit parameter names -> RnnkitTranslator's, by prefix (in order; the first match wins).
RNNKIT_NAMES = [
    ("encoder.embedding.", "src_emb."), ("encoder.rnn.", "encoder."),
    ("decoder.embedding.", "tgt_emb."), ("decoder.bridge.", "bridge."), ("decoder.head.", "head."),
    ("decoder.attention_rnn.attention.query.", "w_query."), ("decoder.attention_rnn.attention.key.", "w_key."),
    ("decoder.attention_rnn.attention.v", "v"),
]
RNNKIT_CELL_NAMES = {"decoder.attention_rnn.%s_l0" % n: "cell.%s" % n
                     for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def rename_rnnkit(name):
    if name in RNNKIT_CELL_NAMES:
        return RNNKIT_CELL_NAMES[name]
    for old, new in RNNKIT_NAMES:
        if name.startswith(old):
            return new + name[len(old):]
    return name  # left as is: load_state_dict reports it as unexpected


class RnnkitTranslator(torch.nn.Module):
    """rnnkit's EncoderDecoder (attention 'bahdanau') at inference, with its weights:
    embedding -> 1-layer bidirectional GRU/LSTM encoder; memory h_j = [fwd_j ; bwd_j];
    context = [fwd final ; bwd final] (h only for LSTM); s_0 = tanh(W_b context + b_b), or context
    itself when its size is the decoder's (no bridge); LSTM decoder cell starts at 0. Each step i:
    e_j = v . tanh(W_q s_{i-1} + W_k h_j + b_k) over valid j, a = softmax(e), c_i = sum_j a_j h_j,
    s_i = cell([emb(y_{i-1}) ; c_i], s_{i-1}), log_softmax(head([s_i ; c_i]))."""

    def __init__(self, config, tensors):
        super().__init__()
        enc, dec, out = config["encoder"], config["decoder"], config["output"]
        E, H = 2 * enc["hiddenSize"], dec["hiddenSize"]
        A = tensors["decoder.attention_rnn.attention.v"].shape[0]
        self.lstm_encoder, self.lstm_decoder = enc["cell"] == "lstm", dec["cell"] == "lstm"
        self.start_token, self.end_token = out["startToken"], out["endToken"]
        self.vocab_size = out["vocabSize"]
        self.src_emb = torch.nn.Embedding(config["input"]["vocabSize"], config["input"]["embeddingSize"])
        self.encoder = RNNKIT_CELLS[enc["cell"]][0](config["input"]["embeddingSize"], enc["hiddenSize"],
                                                     bidirectional=True)
        self.bridge = torch.nn.Linear(E, H) if "decoder.bridge.weight" in tensors else None
        self.tgt_emb = torch.nn.Embedding(out["vocabSize"], out["embeddingSize"])
        self.w_query = torch.nn.Linear(H, A, bias=False)
        self.w_key = torch.nn.Linear(E, A)
        self.v = torch.nn.Parameter(torch.empty(A))
        self.cell = RNNKIT_CELLS[dec["cell"]][1](out["embeddingSize"] + E, H)
        self.head = torch.nn.Linear(H + E, out["vocabSize"])
        self.load_state_dict({rename_rnnkit(name): t for name, t in tensors.items()}, strict=True)
        self.requires_grad_(False)
        self.eval()

    def encode(self, src, lengths):
        """src [N,B] token ids, 0-padded, lengths descending -> batch-first memory [B,N,E],
        keys W_k h_j + b_k [B,N,A], valid-position mask [B,N], initial state (s, c or None)."""
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.src_emb(src), lengths)
        out, h_n = self.encoder(packed)
        if self.lstm_encoder:
            h_n = h_n[0]
        memory, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        context = torch.cat([h_n[0], h_n[1]], dim=1)
        s = torch.tanh(self.bridge(context)) if self.bridge is not None else context
        mask = torch.arange(memory.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        return memory, self.w_key(memory), mask, (s, torch.zeros_like(s) if self.lstm_decoder else None)

    def step(self, tokens, state, memory, keys, mask):
        """Feed tokens [R] -> next-token log-probabilities [R,V] (float32) and the new state."""
        s, c = state
        scores = torch.tanh(keys + self.w_query(s).unsqueeze(1)) @ self.v  # [R,N]
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        context = (weights.unsqueeze(2) * memory).sum(1)  # [R,E]; at these shapes faster than bmm
        x = torch.cat([self.tgt_emb(tokens), context], dim=1)
        if self.lstm_decoder:
            s, c = self.cell(x, (s, c))
        else:
            s = self.cell(x, s)
        logits = self.head(torch.cat([s, context], dim=1))
        return torch.log_softmax(logits, dim=1), (s, c)


def select_rows(state, rows):
    return tuple(None if t is None else t.index_select(0, rows) for t in state)


def cut_at_end(rows, end_token):
    """Token lists of a [B,T] list of lists, each ended before its first end token."""
    return [row[:row.index(end_token)] if end_token in row else row for row in rows]


def greedy_batch(model, encoded, max_length):
    """decoding.ts sampleDecode, greedy: argmax (first index on ties) for every row until all rows
    emitted the end token or max_length steps; finished rows keep stepping, their tokens ignored;
    logProb sums the chosen tokens' log-probabilities, the end token's included."""
    memory, keys, mask, state = encoded
    B = memory.shape[0]
    tokens = torch.full((B,), model.start_token, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    log_prob = torch.zeros(B, dtype=torch.float64)
    chosen = []
    for _ in range(max_length):
        logp, state = model.step(tokens, state, memory, keys, mask)
        tokens = logp.argmax(dim=1)
        picked = logp.gather(1, tokens.unsqueeze(1)).squeeze(1).double()
        log_prob += picked.masked_fill(done, 0.0)
        chosen.append(tokens)
        done |= tokens == model.end_token
        if bool(done.all()):
            break
    return cut_at_end(torch.stack(chosen, dim=1).tolist(), model.end_token), log_prob.tolist()


def beam_batch(model, encoded, width, alpha, max_length):
    """decoding.ts beamSearch for all B sequences of a batch at once (S live sequences x w slots).
    Per live beam its top-`width` tokens (stable: lower id first on ties); all candidates of one
    sequence pooled in (beam, rank) order and stably sorted by accumulated logProb; the best `width`
    kept. An end-token candidate finishes with score logProb / max(1, len+1)^alpha (len: tokens
    without end) and still takes its slot, which stays empty for the next step; the others continue.
    At max_length the live beams finish with logProb / max(1, len)^alpha. A sequence stops once no
    live beam's logProb / max_length^alpha reaches its best finished score. Result: the best score,
    the earliest finished on ties. A sequence leaves the batch once all its slots are empty."""
    memory, keys, mask, state = encoded
    B = memory.shape[0]
    k = min(width, model.vocab_size)
    best = Best(B, max_length)
    seqs = torch.arange(B)  # the sequences still searching
    w = 1  # slots per sequence: one (empty history) before the first step
    log_prob = torch.zeros((B, 1), dtype=torch.float64)  # [S, w]; -inf: empty slot
    history = torch.zeros((B, 0), dtype=torch.long)  # [S*w, t] tokens of each slot
    last = torch.full((B,), model.start_token, dtype=torch.long)
    rows_memory, rows_keys, rows_mask = memory, keys, mask
    for t in range(max_length):
        S = seqs.shape[0]
        logp, state = model.step(last, state, rows_memory, rows_keys, rows_mask)  # [S*w, V]
        top_lp, top_tok = torch.sort(logp, dim=1, descending=True, stable=True)
        pooled = log_prob.unsqueeze(2) + top_lp[:, :k].double().view(S, w, k)
        cand_lp, cand_at = torch.sort(pooled.view(S, w * k), dim=1, descending=True, stable=True)
        cand_lp, cand_at = cand_lp[:, :width], cand_at[:, :width]  # [S, n]
        rows = torch.arange(S).unsqueeze(1) * w + cand_at // k  # parent row of each kept candidate
        token = top_tok[:, :k].reshape(S, w * k).gather(1, cand_at)
        real = torch.isfinite(cand_lp)  # candidates of empty slots are -inf
        ended = real & (token == model.end_token)
        best.offer(seqs, cand_lp.masked_fill(~ended, float("-inf")) / max(1, t + 1) ** alpha, cand_lp, rows, history)
        live = real & ~ended
        log_prob = cand_lp.masked_fill(~live, float("-inf"))
        # A sequence stops once no live beam could overtake its best finished hypothesis.
        hopeless = (log_prob / max(1, max_length) ** alpha).max(dim=1).values <= best.score[seqs]
        live = live & ~hopeless.unsqueeze(1)
        log_prob = log_prob.masked_fill(~live, float("-inf"))
        flat = rows.reshape(-1)
        state = select_rows(state, flat)
        history = torch.cat([history.index_select(0, flat), token.reshape(-1, 1)], dim=1)
        last = token.reshape(-1)
        regather = w != cand_lp.shape[1]
        w = cand_lp.shape[1]
        alive = live.any(dim=1)
        if not bool(alive.all()):
            keep = alive.repeat_interleave(w).nonzero().squeeze(1)
            seqs, log_prob = seqs[alive], log_prob[alive]
            state, history, last = select_rows(state, keep), history.index_select(0, keep), last.index_select(0, keep)
            regather = True
        if seqs.shape[0] == 0:
            break
        if regather:
            rows_memory, rows_keys, rows_mask = (x.index_select(0, seqs).repeat_interleave(w, dim=0)
                                                 for x in (memory, keys, mask))
    if seqs.shape[0] > 0:  # max_length reached: the live beams finish, cut
        rows = torch.arange(seqs.shape[0] * w).view(-1, w)
        best.offer(seqs, log_prob / max(1, max_length) ** alpha, log_prob, rows, history)
    return best.result()


class Best:
    """The best finished hypothesis of each of B sequences so far (strictly better replaces it,
    so among equal scores the first finished stays, as decoding.ts's stable sort keeps it)."""

    def __init__(self, B, max_length):
        self.score = torch.full((B,), float("-inf"), dtype=torch.float64)
        self.log_prob = torch.zeros(B, dtype=torch.float64)
        self.tokens = torch.zeros((B, max_length), dtype=torch.long)
        self.length = torch.zeros(B, dtype=torch.long)

    def offer(self, seqs, scores, log_probs, rows, history):
        """Candidates scores/log_probs/rows [S, n] of sequences seqs [S] (-inf score: none); a
        candidate's tokens are history[row]. Per sequence the first best candidate is offered."""
        value, at = scores.max(dim=1)  # first index of the maximum
        better = (value > self.score[seqs]).nonzero().squeeze(1)
        if better.numel() == 0:
            return
        at = at.unsqueeze(1)
        s = seqs[better]
        self.score[s] = value[better]
        self.log_prob[s] = log_probs.gather(1, at).squeeze(1)[better]
        self.tokens[s, :history.shape[1]] = history.index_select(0, rows.gather(1, at).squeeze(1)[better])
        self.length[s] = history.shape[1]

    def result(self):
        return [row[:n] for row, n in zip(self.tokens.tolist(), self.length.tolist())], self.log_prob.tolist()


def load_rnnkit_model(path):
    tensors, metadata = read_safetensors(path)
    config = check_rnnkit_config(path, metadata)
    try:
        return RnnkitTranslator(config, tensors)
    except (RuntimeError, KeyError) as error:  # missing / unexpected / misshapen weights
        raise ValueError("%s: weights do not fit an EncoderDecoder of this config: %s" % (path, error)) from None


class DecodeCase:
    """op 'decode': an rnnkit model file and sources; pass 'predict' decodes all of them in batches
    of batch_size (sorted by length) and keeps the translations for op 'tokens'."""

    def __init__(self, req):
        self.model = load_rnnkit_model(req["model"])
        self.sources = [list(map(int, s)) for s in req["sources"]]
        vocab = self.model.src_emb.num_embeddings
        if not self.sources or any(len(s) == 0 or min(s) < 0 or max(s) >= vocab for s in self.sources):
            raise ValueError("sources: expected a non-empty list of non-empty lists of token ids in [0, %d)" % vocab)
        self.strategy = req.get("strategy", "greedy")
        if self.strategy not in ("greedy", "beam"):
            raise ValueError("strategy: expected 'greedy' or 'beam', got %r" % self.strategy)
        self.beam_width = int(req.get("beamWidth", 5))
        self.length_penalty = float(req.get("lengthPenalty", 1.0))
        self.max_length = int(req.get("maxLength", 50))
        self.batch_size = int(req.get("batchSize", 64))
        if min(self.beam_width, self.max_length, self.batch_size) < 1 or self.length_penalty < 0:
            raise ValueError("beamWidth, maxLength, batchSize must be >= 1 and lengthPenalty >= 0")
        self.last = None

    def describe(self):
        m = self.model
        return {"sources": len(self.sources), "encoder": "lstm" if m.lstm_encoder else "gru",
                "decoder": "lstm" if m.lstm_decoder else "gru", "bridge": m.bridge is not None,
                "hidden": m.cell.hidden_size, "attention": m.v.shape[0]}

    def predict(self):
        order = sorted(range(len(self.sources)), key=lambda i: -len(self.sources[i]))  # stable: ties by index
        tokens, log_probs = [None] * len(order), [0.0] * len(order)
        with NO_GRAD():
            for at in range(0, len(order), self.batch_size):
                chunk = order[at:at + self.batch_size]
                lengths = [len(self.sources[i]) for i in chunk]
                src = torch.zeros((lengths[0], len(chunk)), dtype=torch.long)
                for b, i in enumerate(chunk):
                    src[:lengths[b], b] = torch.tensor(self.sources[i])
                encoded = self.model.encode(src, torch.tensor(lengths))
                if self.strategy == "greedy":
                    out, lp = greedy_batch(self.model, encoded, self.max_length)
                else:
                    out, lp = beam_batch(self.model, encoded, self.beam_width, self.length_penalty, self.max_length)
                for b, i in enumerate(chunk):
                    tokens[i], log_probs[i] = out[b], lp[b]
        self.last = {"tokens": tokens, "logProbs": log_probs}

    def tokens(self):
        if self.last is None:
            raise ValueError("no translations yet: run pass 'predict' first")
        return self.last


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
            elif op == "decode":
                cases[req["id"]] = DecodeCase(req)
                reply({"ok": True, **cases[req["id"]].describe()})
            elif op == "tokens":
                reply({"ok": True, **cases[req["id"]].tokens()})
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
