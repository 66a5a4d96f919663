// Tests only: whether this machine exposes an NVIDIA GPU to processes (driver device nodes), so
// unit tests can assert the no-GPU behaviour where it applies and leave the rest to *.gpu.test.ts.
import { existsSync } from 'node:fs';

/** True when the NVIDIA kernel driver's control device or proc entry exists. */
export function nvidiaDevicePresent(): boolean {
  return existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia/version');
}
