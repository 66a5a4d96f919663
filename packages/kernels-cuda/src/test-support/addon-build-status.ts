// Tests only: what scripts/build-native.mjs recorded about the last native build, so the binding
// test can insist on a loadable addon wherever the build said it succeeded.
import { readFileSync } from 'node:fs';

/** `built: true` after a successful build, `false` (with reason) after a skip, undefined if never run. */
export function addonBuildStatus(): { built: boolean; reason?: string } | undefined {
  try {
    const url = new URL('../../build/native-build-status.json', import.meta.url);
    return JSON.parse(readFileSync(url, 'utf8')) as { built: boolean; reason?: string };
  } catch {
    return undefined;
  }
}
