// Errors in the shape OpenAI's API (and so its client libraries) uses:
// `{ "error": { "message", "type", "param", "code" } }` with a fitting HTTP status.
import { ContextLengthError, DuoError } from '@duo-attn/core';
import { LlmOptionError, ModelDisposedError } from '@duo-attn/llm';

/** The `type` field OpenAI uses for each kind of failure. */
export type OpenAiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'timeout_error'
  | 'service_unavailable';

/** An HTTP error with an OpenAI-shaped body. */
export class OpenAiHttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: OpenAiErrorType,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Extra response headers (e.g. Retry-After). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'OpenAiHttpError';
  }

  body(): { error: { message: string; type: OpenAiErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A bad field of a request body. */
export function invalidRequest(
  message: string,
  param: string | null = null,
  code: string | null = null,
): OpenAiHttpError {
  return new OpenAiHttpError(400, 'invalid_request_error', message, param, code);
}

/** The 503 of a request that comes (or still waits) while the server shuts down. */
export function shuttingDown(): OpenAiHttpError {
  return new OpenAiHttpError(
    503,
    'service_unavailable',
    'the server is shutting down',
    null,
    'shutting_down',
  );
}

/**
 * Maps anything thrown while serving a request to an OpenAI error: ours as they are, the library's
 * typed input errors as 400s, fastify's own (bad JSON, body too large) with their status, and
 * everything else as a 500 that names the failure without a stack trace.
 */
export function toOpenAiError(error: unknown): OpenAiHttpError {
  if (error instanceof OpenAiHttpError) return error;
  if (error instanceof ContextLengthError) {
    return new OpenAiHttpError(
      400,
      'invalid_request_error',
      error.message,
      'messages',
      'context_length_exceeded',
    );
  }
  if (error instanceof LlmOptionError) return invalidRequest(error.message);
  if (error instanceof ModelDisposedError) {
    return shuttingDown();
  }
  const fastifyError = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (
    typeof fastifyError?.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    const status = fastifyError.statusCode;
    const code = typeof fastifyError.code === 'string' ? fastifyError.code : null;
    const message =
      code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'request body is too large'
        : code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'request body must be application/json'
          : String(fastifyError.message ?? 'bad request');
    return new OpenAiHttpError(status, 'invalid_request_error', message, null, code);
  }
  if (error instanceof DuoError) {
    return new OpenAiHttpError(500, 'server_error', `${error.name}: ${error.message}`, null, 'backend_error');
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new OpenAiHttpError(500, 'server_error', message, null, 'internal_error');
}
