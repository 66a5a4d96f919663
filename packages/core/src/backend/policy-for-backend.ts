// A policy's cache dtype as a backend can keep it. Policies built from patterns name no dtype of
// their own (fp32 by default), so each backend runs them with its native caches: fp32 on
// cpu/reference, bf16 on cuda. Library, CLI and server all load through this.
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import type { Backend } from './backend.js';

/**
 * `policy` unchanged when `backend` keeps its cache dtype, else the same policy with the backend's
 * first (native) KV cache dtype.
 */
export function policyForBackend(
  policy: KvCachePolicy,
  backend: Pick<Backend, 'capabilities'>,
): KvCachePolicy {
  const dtypes = backend.capabilities.kvCacheDtypes;
  if (dtypes.includes(policy.cacheDtype) || dtypes[0] === undefined) return policy;
  return { ...policy, cacheDtype: dtypes[0] };
}
