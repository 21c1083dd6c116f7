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
