// The rows of `duo bench capacity`: every combination of weight format, KV cache dtype and policy
// asked for, and, for those a backend cannot run, its reason in the words its load would use.
import type { BackendCapabilities, KvCacheDtype, WeightFormat } from '@duo-attn/core';
import { EvalOptionError } from '../errors.js';

/** One row of a capacity benchmark: how the weights run, how the KV cache is stored, which policy. */
export interface CapacityCombination {
  readonly weights: WeightFormat;
  readonly kvDtype: KvCacheDtype;
  /** A policy name as the CLI spells it (`full`, `duo:0.5`, ...). */
  readonly policy: string;
}

/** Every combination, weights outermost, then KV dtype, then policy (the order given in each list). */
export function capacityCombinations(
  weights: readonly WeightFormat[],
  kvDtypes: readonly KvCacheDtype[],
  policies: readonly string[],
): CapacityCombination[] {
  const lists: [string, readonly string[]][] = [
    ['weight formats', weights],
    ['KV cache dtypes', kvDtypes],
    ['policies', policies],
  ];
  for (const [name, list] of lists) {
    if (list.length === 0)
      throw new EvalOptionError(`a capacity benchmark needs at least one of its ${name}`);
    const repeated = list.find((item, index) => list.indexOf(item) !== index);
    if (repeated !== undefined) throw new EvalOptionError(`"${repeated}" is given twice among the ${name}`);
  }
  return weights.flatMap((w) =>
    kvDtypes.flatMap((kvDtype) => policies.map((policy) => ({ weights: w, kvDtype, policy }))),
  );
}

/**
 * Why `backend` cannot run `combination`, from its capabilities (worded as its load refusal is), or
 * undefined when it can as far as its capabilities say.
 */
export function unsupportedReason(
  backend: {
    readonly name: string;
    readonly capabilities: Pick<BackendCapabilities, 'kvCacheDtypes' | 'weightFormats'>;
  },
  combination: Pick<CapacityCombination, 'weights' | 'kvDtype'>,
): string | undefined {
  const formats = backend.capabilities.weightFormats ?? ['float'];
  const reasons: string[] = [];
  if (!formats.includes(combination.weights)) {
    reasons.push(`the ${backend.name} backend runs ${formats.join('/')} weights, not ${combination.weights}`);
  }
  const dtypes = backend.capabilities.kvCacheDtypes;
  if (!dtypes.includes(combination.kvDtype)) {
    reasons.push(
      `the ${backend.name} backend keeps ${dtypes.join('/')} KV caches, not ${combination.kvDtype}`,
    );
  }
  return reasons.length === 0 ? undefined : reasons.join('; ');
}
