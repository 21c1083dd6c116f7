// Tensor: the plain value type rnnkit passes around.
// A dense row-major array plus its shape; no methods, so it crosses the native boundary as-is.
// float32 (Float32Array) everywhere; float64 layers (dtype 'float64') take and give Float64Array.

/** The element types a layer computes in (see lib/layers/dtype.ts). */
export type DType = 'float32' | 'float64';

/** The typed arrays of the dtypes. */
export type FloatArray = Float32Array | Float64Array;

/** The typed array of a dtype: Float32Array for 'float32', Float64Array for 'float64'. */
export type ArrayOf<D extends DType> = D extends 'float64' ? Float64Array : Float32Array;

export interface Tensor<Data extends FloatArray = Float32Array> {
  data: Data;
  shape: number[];
}

/** A tensor of a float64 layer. */
export type Tensor64 = Tensor<Float64Array>;
