// The server's counters and gauges in Prometheus' text exposition format (version 0.0.4): requests
// by endpoint and status, prompt and generated tokens, generation speed over the last 10 s, queue
// depth, running requests, and KV-cache bytes used and free by head class (retrieval heads grow
// with the context; streaming heads hold sink + recent tokens).
import type { BatchingStats, MemoryReport } from '@duo-attn/core';

/** Seconds over which tokens per second is averaged. */
const RATE_WINDOW_S = 10;

/** What /metrics reads at scrape time. */
export interface MetricsSources {
  memory(): MemoryReport;
  queued(): number;
  running(): number;
  reservedKvBytes(): number;
  /** Continuous batching counters; undefined when decode steps are not batched. */
  decodeBatching?(): BatchingStats | undefined;
}

export class ServerMetrics {
  readonly #requests = new Map<string, number>();
  #promptTokens = 0;
  #generatedTokens = 0;
  /** Generated-token counts per whole second, for the rate gauge. */
  readonly #recent: { second: number; tokens: number }[] = [];

  constructor(private readonly sources: MetricsSources) {}

  /** Counts one finished request of `endpoint` with HTTP `status`. */
  request(endpoint: string, status: number): void {
    const key = `endpoint="${endpoint}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  promptTokens(count: number): void {
    this.#promptTokens += count;
  }

  /** Counts generated tokens as they are produced. */
  generatedTokens(count: number, now = Date.now()): void {
    this.#generatedTokens += count;
    const second = Math.floor(now / 1000);
    const last = this.#recent.at(-1);
    if (last?.second === second) last.tokens += count;
    else this.#recent.push({ second, tokens: count });
    while (this.#recent.length > 0 && this.#recent[0]!.second <= second - RATE_WINDOW_S) this.#recent.shift();
  }

  /** Generated tokens per second over the last {@link RATE_WINDOW_S} seconds. */
  tokensPerSecond(now = Date.now()): number {
    const second = Math.floor(now / 1000);
    const tokens = this.#recent
      .filter((e) => e.second > second - RATE_WINDOW_S)
      .reduce((sum, e) => sum + e.tokens, 0);
    return tokens / RATE_WINDOW_S;
  }

  /** The exposition text. */
  render(now = Date.now()): string {
    const memory = this.sources.memory();
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples)
        lines.push(`${name}${labels === '' ? '' : `{${labels}}`} ${value}`);
    };
    metric(
      'duo_requests_total',
      'counter',
      'Finished HTTP requests by endpoint and status.',
      [...this.#requests.entries()].sort(),
    );
    metric('duo_prompt_tokens_total', 'counter', 'Prompt tokens of admitted requests.', [
      ['', this.#promptTokens],
    ]);
    metric('duo_generated_tokens_total', 'counter', 'Tokens generated.', [['', this.#generatedTokens]]);
    metric(
      'duo_generated_tokens_per_second',
      'gauge',
      `Tokens generated per second over the last ${RATE_WINDOW_S} s.`,
      [['', this.tokensPerSecond(now)]],
    );
    metric('duo_queue_depth', 'gauge', 'Requests waiting for a sequence and KV memory.', [
      ['', this.sources.queued()],
    ]);
    metric('duo_running_requests', 'gauge', 'Requests generating now.', [['', this.sources.running()]]);
    metric('duo_kv_bytes_used', 'gauge', 'KV-cache bytes holding live tokens, by head class.', [
      ['head_class="retrieval"', memory.retrievalKvBytesUsed],
      ['head_class="streaming"', memory.streamingKvBytesUsed],
    ]);
    metric('duo_kv_bytes_allocated', 'gauge', "KV-cache bytes the backend holds (its sequences' capacity).", [
      ['', memory.kvBytesAllocated],
    ]);
    metric('duo_kv_bytes_free', 'gauge', 'KV-cache bytes allocated but not holding live tokens.', [
      ['', Math.max(0, memory.kvBytesAllocated - memory.kvBytesUsed)],
    ]);
    metric(
      'duo_kv_bytes_reserved',
      'gauge',
      'KV-cache bytes reserved by admitted requests (prompt plus max_tokens).',
      [['', this.sources.reservedKvBytes()]],
    );
    metric('duo_weight_bytes', 'gauge', 'Bytes of model weights held by the backend.', [
      ['', memory.weightBytes],
    ]);
    const batching = this.sources.decodeBatching?.();
    if (batching !== undefined) {
      metric('duo_decode_batches_total', 'counter', 'Batched decode passes (two or more sequences).', [
        ['', batching.batches],
      ]);
      metric('duo_decode_batched_steps_total', 'counter', 'Decode steps that ran in batched passes.', [
        ['', batching.batchedSteps],
      ]);
      metric(
        'duo_decode_single_steps_total',
        'counter',
        'Decode steps that ran alone (nothing to batch with).',
        [['', batching.singleSteps]],
      );
    }
    return `${lines.join('\n')}\n`;
  }
}
