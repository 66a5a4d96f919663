// @duo-attn/server: an OpenAI-compatible HTTP server for DuoAttention inference.
export type { AdmissionLimits, AdmissionTicket } from './admission.js';
export { Admission } from './admission.js';
export type { DuoServer, ServerOptions } from './create-server.js';
export { createServer } from './create-server.js';
export { OpenAiHttpError } from './openai-error.js';
export {
  SERVE_DEFAULTS,
  SERVE_USAGE,
  ServeUsageError,
  type StartServerOptions,
  startServer,
} from './start-server.js';
