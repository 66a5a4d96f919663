// Which backends exist in this process and which one a run uses. Selection is explicit about
// failure: it never falls back to the slow reference backend silently and names every cause.
import type { Backend } from './backend.js';
import { BackendNotFoundError, BackendRegistrationError, BackendUnavailableError } from './backend-errors.js';

/** The backend contract version this core implements. */
export const BACKEND_SPECIFICATION_VERSION = 'v1';

/** A registered backend and its priority (higher is preferred; negative: only by name). */
export interface BackendEntry {
  readonly backend: Backend;
  readonly priority: number;
}

/** What `listBackends` reports about one backend. */
export interface BackendListing {
  readonly name: string;
  readonly priority: number;
  /** False for negative priority: the backend is used only when requested by name. */
  readonly autoSelectable: boolean;
  readonly capabilities: Backend['capabilities'];
}

/** A set of backends with priorities. Most code uses the process-wide default through the functions below. */
export class BackendRegistry {
  private readonly entries = new Map<string, BackendEntry>();

  /**
   * Adds a backend. Registering the same object again updates its priority; a different object
   * under a registered name is an error.
   */
  register(backend: Backend, priority: number): void {
    if (
      typeof backend !== 'object' ||
      backend === null ||
      typeof backend.name !== 'string' ||
      backend.name === ''
    ) {
      throw new BackendRegistrationError('a backend must be an object with a non-empty string name');
    }
    if (!Number.isFinite(priority)) {
      throw new BackendRegistrationError(
        `backend ${backend.name}: priority must be a finite number (got ${priority})`,
      );
    }
    const existing = this.entries.get(backend.name);
    if (existing !== undefined && existing.backend !== backend) {
      throw new BackendRegistrationError(`a different backend is already registered as "${backend.name}"`);
    }
    this.entries.set(backend.name, { backend, priority });
  }

  /** Removes a backend; returns whether it was registered. */
  unregister(name: string): boolean {
    return this.entries.delete(name);
  }

  /** The backend registered under `name`, if any. */
  get(name: string): Backend | undefined {
    return this.entries.get(name)?.backend;
  }

  /** Registered backends, highest priority first (ties in registration order). */
  list(): BackendListing[] {
    return this.sorted().map(({ backend, priority }) => ({
      name: backend.name,
      priority,
      autoSelectable: priority >= 0,
      capabilities: backend.capabilities,
    }));
  }

  /**
   * The backend to use. With `name`: that backend, if registered and available. Without: the
   * highest-priority available backend of non-negative priority. Fails with
   * {@link BackendNotFoundError} (unknown name) or {@link BackendUnavailableError}, whose message
   * lists every registered backend and why it was not used.
   */
  async resolve(name?: string): Promise<Backend> {
    if (name !== undefined) {
      const entry = this.entries.get(name);
      if (entry === undefined) {
        const known = [...this.entries.keys()];
        throw new BackendNotFoundError(
          `no backend named "${name}" is registered (registered: ${known.length > 0 ? known.join(', ') : 'none'})`,
        );
      }
      const reason = await unavailability(entry.backend);
      if (reason !== undefined) {
        throw new BackendUnavailableError(`backend "${name}" is unavailable: ${reason}`, [{ name, reason }]);
      }
      return entry.backend;
    }
    const causes: { name: string; reason: string }[] = [];
    for (const { backend, priority } of this.sorted()) {
      if (priority < 0) {
        const reason = await unavailability(backend);
        causes.push({
          name: backend.name,
          reason:
            reason === undefined
              ? `never selected automatically (priority ${priority}); request it by name ("${backend.name}")`
              : `unavailable: ${reason}; and never selected automatically (priority ${priority})`,
        });
        continue;
      }
      const reason = await unavailability(backend);
      if (reason === undefined) return backend;
      causes.push({ name: backend.name, reason: `unavailable: ${reason}` });
    }
    const detail =
      causes.length === 0
        ? 'no backend is registered'
        : causes.map((cause) => `  - ${cause.name}: ${cause.reason}`).join('\n');
    throw new BackendUnavailableError(`no backend can run here:\n${detail}`, causes);
  }

  private sorted(): BackendEntry[] {
    // Array.prototype.sort is stable, so equal priorities keep registration order.
    return [...this.entries.values()].sort((a, b) => b.priority - a.priority);
  }
}

/** Why a backend cannot run here, or undefined when it can. A throwing probe counts as a cause. */
async function unavailability(backend: Backend): Promise<string | undefined> {
  if (backend.specificationVersion !== BACKEND_SPECIFICATION_VERSION) {
    return `implements backend contract ${String(backend.specificationVersion)}, this core expects ${BACKEND_SPECIFICATION_VERSION}`;
  }
  try {
    const result = await backend.isAvailable();
    return result.available ? undefined : result.reason;
  } catch (error) {
    return `availability check failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The process-wide registry. */
export const defaultBackendRegistry = new BackendRegistry();

/** Registers a backend in the process-wide registry. See {@link BackendRegistry.register}. */
export function registerBackend(backend: Backend, priority: number): void {
  defaultBackendRegistry.register(backend, priority);
}

/** Removes a backend from the process-wide registry. */
export function unregisterBackend(name: string): boolean {
  return defaultBackendRegistry.unregister(name);
}

/** The backend registered under `name` in the process-wide registry. */
export function getBackend(name: string): Backend | undefined {
  return defaultBackendRegistry.get(name);
}

/** Backends of the process-wide registry, highest priority first. */
export function listBackends(): BackendListing[] {
  return defaultBackendRegistry.list();
}

/** Picks a backend from the process-wide registry. See {@link BackendRegistry.resolve}. */
export function resolveBackend(name?: string): Promise<Backend> {
  return defaultBackendRegistry.resolve(name);
}
