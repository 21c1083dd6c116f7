// Child process of the memory section of `npm run bench`: reads one JSON
// request on stdin, builds the case, runs 3 training steps at 1 thread and
// prints { before_kib, peak_kib } as JSON: VmHWM from /proc/self/status, the
// peak of this process image (getrusage's maxRSS would include the parent's
// peak at fork time).

import * as fs from 'node:fs';
import { Adam, GRU, LSTM, RNN, setNumThreads, type Recurrent } from '../lib';
import { makeSeq2SeqBatch, seq2seqModel } from './seq2seq';

function peakKib(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS;
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const req = JSON.parse(Buffer.concat(chunks).toString());
  setNumThreads(1);
  let step: () => Promise<void>;
  if (req.kind === 'recurrent') {
    const { T, B, I, H } = req;
    const make: Record<string, () => Recurrent> = {
      RNN: () => new RNN({ inputSize: I, hiddenSize: H }), GRU: () => new GRU({ inputSize: I, hiddenSize: H }),
      LSTM: () => new LSTM({ inputSize: I, hiddenSize: H }),
    };
    const layer = make[req.cell]();
    const x = { data: new Float32Array(T * B * I).fill(0.1), shape: [T, B, I] };
    const dOutput = { data: new Float32Array(T * B * H).fill(1e-3), shape: [T, B, H] };
    step = async () => {
      layer.zeroGrad();
      layer.forward(x, { training: true });
      layer.backward({ dOutput });
    };
  } else {
    const model = seq2seqModel();
    const batch = makeSeq2SeqBatch(7);
    const optimizer = new Adam({ lr: 1e-3 });
    step = async () => {
      model.zeroGrad();
      await model.trainBatch(batch, { random: model.random });
      await optimizer.stepAsync(model.parameters, model.gradients);
    };
  }
  const before = peakKib();
  for (let i = 0; i < 3; i++) await step();
  console.log(JSON.stringify({ before_kib: before, peak_kib: peakKib() }));
}

main().catch((error) => { console.error(error); process.exit(1); });
