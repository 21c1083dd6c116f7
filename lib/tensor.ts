// Tensor: the plain value type rnnkit passes around.
// A dense row-major float32 array plus its shape; no methods, so it crosses the native boundary as-is.

export interface Tensor {
  data: Float32Array;
  shape: number[];
}
