// API keys are compared in constant time: both sides are hashed to 32 bytes first, so neither the
// key's length nor its first differing byte shows in the time a refusal takes.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (key: string) => createHash('sha256').update(key, 'utf8').digest();

/** Whether `key` equals one of `keys` (every key is compared, match or not). */
export function apiKeyMatches(key: string, keys: readonly string[]): boolean {
  const given = digest(key);
  let match = false;
  for (const candidate of keys) match = timingSafeEqual(given, digest(candidate)) || match;
  return match;
}
