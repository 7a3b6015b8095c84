/**
 * One base class for every error the project raises on purpose: a stable `code` that tests, logs and
 * API responses can rely on, a message a user can act on, and the underlying `cause` when there is one.
 */
export class EdgeError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EdgeError";
    this.code = code;
  }
}

/** The message of anything thrown, for logs and status fields. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  // Some libraries (modbus-serial) throw objects that look like errors without extending Error.
  if (typeof err === "object" && err !== null && typeof (err as { message?: unknown }).message === "string") {
    return (err as { message: string }).message;
  }
  return String(err);
}
