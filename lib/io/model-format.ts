// The metadata tag of whole-model files (see model-file.ts), kept apart so
// models can save themselves without importing every structure.

export const MODEL_FORMAT = 'rnnkit-model';
