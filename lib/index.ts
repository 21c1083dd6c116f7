// Public entry point of rnnkit.

export type { Tensor } from './tensor';
export { RnnkitError, RnnkitFormatError } from './errors';
export { Recurrent } from './layers/recurrent';
export type { RecurrentOptions, ForwardOptions, RecurrentOutput, OutputGradients, InputGradients } from './layers/recurrent';
export { RNN } from './layers/rnn';
export type { RNNOptions } from './layers/rnn';
export { GRU } from './layers/gru';
export { LSTM } from './layers/lstm';
export { loadSafetensors, saveSafetensors, encodeSafetensors, decodeSafetensors } from './io/safetensors';
export type { SafetensorsFile } from './io/safetensors';
export { setNumThreads, getNumThreads } from './threads';
export { Linear } from './layers/linear';
export type { LinearOptions, LinearForwardOptions } from './layers/linear';
export { Embedding } from './layers/embedding';
export type { EmbeddingOptions, EmbeddingForwardOptions } from './layers/embedding';
export { softmaxCrossEntropy, softmaxCrossEntropyAsync, logSoftmax, logSoftmaxAsync, mseLoss, mseLossAsync } from './train/losses';
export type { CrossEntropyOptions, CrossEntropyResult, MseOptions, MseResult, Reduction } from './train/losses';
export { SGD, Adam, AdamW, clipGradNorm } from './train/optimizers';
export type { Optimizer, OptimizerState, SGDOptions, AdamOptions } from './train/optimizers';
export * as schedules from './train/schedules';
export type { Schedule } from './train/schedules';
