// Backends beyond core's cpu and reference that are installed next to this package. The cuda
// backend (@duo-attn/kernels-cuda) is an optional peer: when it is installed it registers itself
// and, where a GPU and the built addon are present, becomes the default; otherwise nothing changes.

const CUDA_PACKAGE = '@duo-attn/kernels-cuda';

let registration: Promise<void> | undefined;

/** Registers the cuda backend when @duo-attn/kernels-cuda is installed; resolves either way. */
export function registerInstalledBackends(): Promise<void> {
  registration ??= registerCuda();
  return registration;
}

async function registerCuda(): Promise<void> {
  let cuda: { registerCudaBackend?: () => unknown };
  try {
    // A variable specifier: this package must load (and bundle) without the optional peer.
    const name = CUDA_PACKAGE;
    cuda = (await import(name)) as typeof cuda;
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  cuda.registerCudaBackend?.();
}

/** The optional peer itself is not installed (not: one of its own imports is broken). */
function isMissing(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    error.code === 'ERR_MODULE_NOT_FOUND' &&
    error instanceof Error &&
    error.message.includes(`'${CUDA_PACKAGE}'`)
  );
}
