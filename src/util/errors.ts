/**
 * @module util/errors
 * Coded errors: every error kpr raises on purpose carries a stable `code` (for logs, metrics and
 * tests) and a message that says what to do, with the underlying failure as `cause`.
 */

export class KprError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KprError';
    this.code = code;
  }
}

/** A Kubernetes object that cannot be programmed: names the source (file) and the object. */
export class InvalidObjectError extends KprError {
  readonly object: string;
  readonly source: string;
  constructor(source: string, object: string, problem: string) {
    super('KPR_ERR_INVALID_OBJECT', `${source}: ${object}: ${problem}`);
    this.name = 'InvalidObjectError';
    this.object = object;
    this.source = source;
  }
}

/** The kernel refused a dataplane change. */
export class DataplaneError extends KprError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DataplaneError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
