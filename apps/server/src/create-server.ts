// The OpenAI-compatible HTTP server on fastify: /v1/completions, /v1/chat/completions (streaming as
// server-sent events), /v1/models, /health and /metrics, around one LanguageModel whose sequences
// serve concurrent requests. Admission is by KV-cache memory (admission.ts); every failure answers
// in OpenAI's error shape; a client that disconnects, a timeout or a shutdown aborts its generation
// and frees its sequence.
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { planMemory, TokenizerError } from '@duo-attn/core';
import type { LanguageModel } from '@duo-attn/llm';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Admission, type AdmissionTicket } from './admission.js';
import { apiKeyMatches } from './api-key.js';
import { ServerMetrics } from './metrics.js';
import { invalidRequest, OpenAiHttpError, shuttingDown, toOpenAiError } from './openai-error.js';
import { type CompletionRequest, parseChatBody, parseCompletionBody } from './request-body.js';
import { type CompletionKind, completionResponse, type StreamChunks, streamChunks } from './response-body.js';

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** The model to serve (its `maxSequences` is how many requests generate at once). */
  readonly model: LanguageModel;
  /** The id clients send as `model` and /v1/models lists. Default: the model directory's name. */
  readonly modelId?: string;
  /** Keys a client must send as `Authorization: Bearer KEY` on /v1/*. Default: none (open). */
  readonly apiKeys?: readonly string[];
  /** Requests that may wait for room before 429s start. Default 64. */
  readonly maxQueue?: number;
  /**
   * KV-cache bytes all running requests may reserve together (each reserves its prompt plus
   * max_tokens). Default: what the model's sequences hold (maxSequences x maxTokens tokens).
   */
  readonly kvBudgetBytes?: number;
  /** Largest request body. Default 4 MiB. */
  readonly bodyLimitBytes?: number;
  /** A request (waiting included) is aborted after this long. Default 600 000 ms. */
  readonly requestTimeoutMs?: number;
  /** max_tokens of a completion that sets none (OpenAI's default is 16). Default 16. */
  readonly defaultCompletionTokens?: number;
  /**
   * Prompt tokens prefilled per forward pass. The passes of one request's prefill take turns with
   * the other requests' batched decode steps, so this bounds how long a long prompt holds up the
   * streams already running. Default 2048. Under DuoAttention, streaming heads compress their
   * cache between chunks (as the original's chunked prefill does), so outputs depend on it.
   */
  readonly prefillChunkSize?: number;
  /** fastify's logger option: true (JSON lines on stdout), false, or a pino options object. Default true. */
  readonly logger?: boolean | Record<string, unknown>;
}

/** A running server. */
export interface DuoServer {
  readonly app: FastifyInstance;
  readonly modelId: string;
  /** The admission controller (running and queued requests, reserved KV bytes). */
  readonly admission: Admission;
  /** Starts listening; resolves to the address (e.g. `http://127.0.0.1:8080`). */
  listen(port: number, host?: string): Promise<string>;
  /**
   * Graceful shutdown: refuses new requests (503), lets running ones finish for up to `graceMs`,
   * then aborts them and what still waits, and stops listening. The model is not disposed.
   */
  close(graceMs?: number): Promise<void>;
}

const DEFAULTS = {
  maxQueue: 64,
  bodyLimitBytes: 4 * 1024 * 1024,
  requestTimeoutMs: 600_000,
  defaultCompletionTokens: 16,
  prefillChunkSize: 2048,
} as const;

/** Builds the server (not yet listening). */
export async function createServer(options: ServerOptions): Promise<DuoServer> {
  const { model } = options;
  const modelId = options.modelId ?? basename(model.directory);
  const maxQueue = nonNegativeInteger(options.maxQueue, 'maxQueue') ?? DEFAULTS.maxQueue;
  const requestTimeoutMs =
    positiveInteger(options.requestTimeoutMs, 'requestTimeoutMs') ?? DEFAULTS.requestTimeoutMs;
  const defaultCompletionTokens =
    positiveInteger(options.defaultCompletionTokens, 'defaultCompletionTokens') ??
    DEFAULTS.defaultCompletionTokens;
  const prefillChunkSize =
    positiveInteger(options.prefillChunkSize, 'prefillChunkSize') ?? DEFAULTS.prefillChunkSize;
  const apiKeys = options.apiKeys ?? [];
  if (apiKeys.some((key) => typeof key !== 'string' || key.length === 0)) {
    throw new TypeError('apiKeys must be non-empty strings');
  }
  // The planner's bytes for the served policy: a request of n tokens reserves n times the
  // retrieval heads' bytes per token plus the streaming heads' fixed sink + recent window.
  const plan = planMemory(model.config, model.policy, { weightDtype: 'bf16' }).policy;
  const kvBytesFor = (tokens: number) => plan.kvBytesPerToken * tokens + plan.streamingKvBytes;
  const capacity = Math.min(model.contextLength, model.maxTokens);
  const admission = new Admission({
    sequences: model.maxSequences,
    kvBudgetBytes:
      nonNegativeInteger(options.kvBudgetBytes, 'kvBudgetBytes') ??
      model.maxSequences * kvBytesFor(model.maxTokens),
    maxQueue,
  });
  const metrics = new ServerMetrics({
    memory: () => model.memory(),
    queued: () => admission.queued,
    running: () => admission.running,
    reservedKvBytes: () => admission.reservedBytes,
    decodeBatching: () => model.decodeBatching(),
  });
  // Aborted when shutdown begins (waiting requests leave) and when its grace period ends (running ones stop).
  const closing = new AbortController();
  const stopping = new AbortController();
  let degraded: string | undefined;

  const app = Fastify({
    logger: options.logger ?? true,
    bodyLimit: positiveInteger(options.bodyLimitBytes, 'bodyLimitBytes') ?? DEFAULTS.bodyLimitBytes,
    genReqId: () => randomUUID(),
  });

  app.setErrorHandler((error, request, reply) => {
    const failure = toOpenAiError(error);
    if (failure.status >= 500) request.log.error({ err: error }, failure.message);
    void reply.status(failure.status).headers(failure.headers).send(failure.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const failure = new OpenAiHttpError(
      404,
      'not_found_error',
      `no route ${request.method} ${request.url}`,
      null,
      'unknown_route',
    );
    void reply.status(404).send(failure.body());
  });
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/') || apiKeys.length === 0) return;
    const header = request.headers.authorization;
    const key =
      typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (key === undefined || !apiKeyMatches(key, apiKeys)) {
      throw new OpenAiHttpError(
        401,
        'authentication_error',
        key === undefined ? 'missing API key: send Authorization: Bearer KEY' : 'invalid API key',
        null,
        'invalid_api_key',
      );
    }
  });
  // Streams write the raw response themselves and count themselves (with 499 when the client left).
  const countedByHandler = new WeakSet<FastifyRequest>();
  app.addHook('onResponse', async (request, reply) => {
    if (countedByHandler.has(request)) return;
    metrics.request(request.routeOptions.url ?? 'unknown', reply.statusCode);
  });

  app.get('/health', async (_request, reply) => {
    const status = closing.signal.aborted ? 'shutting_down' : degraded !== undefined ? 'degraded' : 'ok';
    return reply.status(status === 'ok' ? 200 : 503).send({
      status,
      ...(degraded === undefined ? {} : { error: degraded }),
      model: modelId,
      backend: model.backendName,
      policy: model.policyDescription,
      running: admission.running,
      queued: admission.queued,
    });
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()),
  );
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: modelId, object: 'model', created: 0, owned_by: 'duo-attn' }],
  }));
  app.get('/v1/models/:id', async (request) => {
    const { id } = request.params as { id: string };
    if (id !== modelId) throw modelNotFound(id);
    return { id: modelId, object: 'model', created: 0, owned_by: 'duo-attn' };
  });

  const complete = (kind: CompletionKind) => async (request: FastifyRequest, reply: FastifyReply) => {
    if (closing.signal.aborted) {
      throw shuttingDown();
    }
    if (degraded !== undefined) {
      throw new OpenAiHttpError(
        503,
        'service_unavailable',
        `the backend failed and the server cannot generate: ${degraded}`,
        null,
        'backend_failed',
      );
    }
    const body = kind === 'chat' ? parseChatBody(request.body) : parseCompletionBody(request.body);
    if (body.model !== undefined && body.model !== modelId) throw modelNotFound(body.model);
    const ids = promptIds(model, body);
    const maxNewTokens =
      body.maxTokens ?? (kind === 'chat' ? model.defaults.maxNewTokens : defaultCompletionTokens);
    if (ids.length + maxNewTokens > capacity) {
      throw invalidRequest(
        `the prompt has ${ids.length} tokens and max_tokens is ${maxNewTokens} (${ids.length + maxNewTokens} in all), ` +
          `more than the model's context of ${capacity} tokens`,
        kind === 'chat' ? 'messages' : 'prompt',
        'context_length_exceeded',
      );
    }
    // One signal for everything that ends this request early: the client leaving, the timeout,
    // the shutdown's grace period running out (and, while waiting, the shutdown itself).
    const ended = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) ended.abort(new ClientGoneError());
    };
    reply.raw.on('close', onClose);
    const timer = setTimeout(() => ended.abort(new RequestTimeoutError(requestTimeoutMs)), requestTimeoutMs);
    const waiting = AbortSignal.any([ended.signal, closing.signal]);
    let ticket: AdmissionTicket | undefined;
    try {
      try {
        ticket = await admission.acquire(kvBytesFor(ids.length + maxNewTokens), waiting);
      } catch (error) {
        if (error instanceof ClientGoneError) {
          countedByHandler.add(request);
          metrics.request(request.routeOptions.url ?? 'unknown', 499);
          return reply.hijack();
        }
        if (error instanceof RequestTimeoutError) throw error.http();
        if (closing.signal.aborted && !(error instanceof OpenAiHttpError)) {
          throw shuttingDown();
        }
        throw error;
      }
      metrics.promptTokens(ids.length);
      const stream = model.stream(ids, {
        ...body.options,
        maxNewTokens,
        prefillChunkSize,
        signal: AbortSignal.any([ended.signal, stopping.signal]),
      });
      const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
      const created = Math.floor(Date.now() / 1000);
      if (!body.stream) {
        for await (const _ of stream) metrics.generatedTokens(1);
        const result = await stream.result;
        if (result.finishReason === 'aborted') throw abortedError(ended.signal, stopping.signal);
        request.log.info(
          { promptTokens: ids.length, tokens: result.tokens.length, finish: result.finishReason },
          'completed',
        );
        return reply.send(completionResponse(kind, { id, created, model: modelId }, result, ids.length));
      }
      // Server-sent events, written by hand on the raw response (fastify steps aside).
      countedByHandler.add(request);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-request-id': String(request.id),
      });
      const chunks: StreamChunks = streamChunks(kind, { id, created, model: modelId }, body.includeUsage);
      const send = (data: unknown) => raw.write(`data: ${JSON.stringify(data)}\n\n`);
      try {
        send(chunks.start());
        for await (const token of stream) {
          metrics.generatedTokens(1);
          if (token.text !== '') send(chunks.delta(token.text));
        }
        const result = await stream.result;
        if (result.finishReason === 'aborted') {
          if (ended.signal.reason instanceof ClientGoneError) {
            metrics.request(request.routeOptions.url ?? 'unknown', 499);
            return;
          }
          send(abortedError(ended.signal, stopping.signal).body());
        } else {
          send(chunks.finish(result));
          if (body.includeUsage) send(chunks.usage(result, ids.length));
          request.log.info(
            { promptTokens: ids.length, tokens: result.tokens.length, finish: result.finishReason },
            'streamed',
          );
        }
      } catch (error) {
        const failure = toOpenAiError(error);
        noteBackendFailure(error);
        request.log.error({ err: error }, failure.message);
        if (!raw.destroyed) send(failure.body());
      }
      if (!raw.destroyed) raw.end('data: [DONE]\n\n');
      metrics.request(
        request.routeOptions.url ?? 'unknown',
        raw.destroyed && !raw.writableFinished ? 499 : 200,
      );
      return;
    } catch (error) {
      noteBackendFailure(error);
      throw error;
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      ticket?.release();
    }
  };

  /** A native backend that died (e.g. the cpu worker process) cannot serve again: say so on /health. */
  const noteBackendFailure = (error: unknown) => {
    if (error instanceof Error && error.name === 'CpuWorkerError') degraded = error.message;
  };

  app.post('/v1/completions', complete('completion'));
  app.post('/v1/chat/completions', complete('chat'));

  let closed: Promise<void> | undefined;
  return {
    app,
    modelId,
    admission,
    async listen(port: number, host = '127.0.0.1') {
      return app.listen({ port, host });
    },
    close(graceMs = 30_000) {
      closed ??= (async () => {
        closing.abort(new Error('shutting down'));
        const deadline = Date.now() + graceMs;
        while (admission.running > 0 && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 25));
        stopping.abort(new Error('shutting down'));
        await app.close();
      })();
      return closed;
    },
  };
}

/** The prompt's token ids: text encoded, ids checked against the vocabulary, messages rendered. */
function promptIds(model: LanguageModel, body: CompletionRequest): number[] {
  const prompt = body.prompt;
  try {
    if ('messages' in prompt) return model.encodeChat(prompt.messages);
    if ('text' in prompt) {
      if (prompt.text.length === 0) throw invalidRequest('prompt must not be empty', 'prompt');
      return model.encode(prompt.text);
    }
  } catch (error) {
    if (error instanceof TokenizerError)
      throw invalidRequest(error.message, 'messages' in prompt ? 'messages' : 'prompt', error.reason);
    throw error;
  }
  const vocab = model.config.vocabSize;
  const bad = prompt.ids.findIndex((id) => id >= vocab);
  if (bad >= 0)
    throw invalidRequest(
      `prompt[${bad}] = ${prompt.ids[bad]} is outside the vocabulary [0, ${vocab})`,
      'prompt',
    );
  return [...prompt.ids];
}

function modelNotFound(id: string): OpenAiHttpError {
  return new OpenAiHttpError(
    404,
    'not_found_error',
    `the model '${id}' does not exist on this server`,
    'model',
    'model_not_found',
  );
}

/** Why an aborted generation ended, as the error a client gets. */
function abortedError(ended: AbortSignal, stopping: AbortSignal): OpenAiHttpError {
  if (ended.reason instanceof RequestTimeoutError) return ended.reason.http();
  if (stopping.aborted)
    return new OpenAiHttpError(
      503,
      'service_unavailable',
      'the server shut down during the request',
      null,
      'shutting_down',
    );
  return new OpenAiHttpError(500, 'server_error', 'the generation was aborted', null, 'aborted');
}

class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGoneError';
  }
}

class RequestTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`the request took longer than the server's limit of ${ms} ms`);
    this.name = 'RequestTimeoutError';
  }
  http(): OpenAiHttpError {
    return new OpenAiHttpError(504, 'timeout_error', this.message, null, 'timeout');
  }
}

function positiveInteger(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!(Number.isSafeInteger(value) && value >= 1))
    throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
  return value;
}

function nonNegativeInteger(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!(Number.isSafeInteger(value) && value >= 0))
    throw new RangeError(`${name} must be an integer >= 0, got ${value}`);
  return value;
}
