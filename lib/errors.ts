// Error types for rnnkit.
// Every error rnnkit throws carries a stable `code` so callers can branch without parsing messages.

export class RnnkitError extends Error {
  readonly code: string;

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A file or buffer that is not a valid model/weights file. */
export class RnnkitFormatError extends RnnkitError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_RNNKIT_FORMAT', options);
  }
}

export type CodedError<E extends Error> = E & { code: string };

// Built-in classes (not subclasses) so `instanceof RangeError`/`TypeError` keep working for callers.
function withCode<E extends Error>(error: E, code: string): CodedError<E> {
  return Object.assign(error, { code });
}

/** Shapes or element counts that do not agree. */
export function shapeError(message: string): CodedError<RangeError> {
  return withCode(new RangeError(message), 'ERR_RNNKIT_SHAPE');
}

/** An argument of the wrong type. */
export function typeError(message: string): CodedError<TypeError> {
  return withCode(new TypeError(message), 'ERR_RNNKIT_TYPE');
}

/** An argument of the right type but an unusable value. */
export function valueError(message: string): CodedError<RangeError> {
  return withCode(new RangeError(message), 'ERR_RNNKIT_VALUE');
}

/** A model from another library that uses a layer or option rnnkit has no counterpart for. */
export class RnnkitUnsupportedError extends RnnkitError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_RNNKIT_UNSUPPORTED', options);
  }
}
