import { describe, expect, it } from 'vitest';
import { fullPolicy } from '../policy/create-policy.js';
import { policyForBackend } from './policy-for-backend.js';

describe('policyForBackend', () => {
  const policy = fullPolicy({ numLayers: 1, numKvHeads: 2 });

  it("keeps a dtype the backend supports and switches to the backend's native one otherwise", () => {
    expect(policyForBackend(policy, { capabilities: caps(['fp32', 'bf16']) })).toBe(policy);
    expect(policyForBackend(policy, { capabilities: caps(['bf16']) })).toEqual({
      ...policy,
      cacheDtype: 'bf16',
    });
  });
});

function caps(kvCacheDtypes: ('fp32' | 'bf16')[]) {
  return { computeDtypes: [], kvCacheDtypes, training: false };
}
