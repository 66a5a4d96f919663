// Public surface of the backend module: the contract's types, the registry, shared errors and the
// input checks every backend runs.
export type {
  Backend,
  BackendCapabilities,
  DecodeBatchResult,
  DecodeStep,
  DeviceSampleRequest,
  Executor,
  ForwardOptions,
  ForwardResult,
  ForwardSampleOptions,
  LoadOptions,
  MemoryReport,
  ModelSource,
  WeightFormat,
} from './backend.js';
export {
  AbortedError,
  BackendNotFoundError,
  BackendRegistrationError,
  BackendUnavailableError,
  CapacityError,
  DisposedError,
  ExecutorBusyError,
  ExecutorInputError,
  ModelLoadError,
  TokenIdError,
} from './backend-errors.js';
export type { BackendEntry, BackendListing } from './backend-registry.js';
export {
  BACKEND_SPECIFICATION_VERSION,
  BackendRegistry,
  defaultBackendRegistry,
  getBackend,
  listBackends,
  registerBackend,
  resolveBackend,
  unregisterBackend,
} from './backend-registry.js';
export { policyForBackend } from './policy-for-backend.js';
export type { ForwardLimits } from './validate-forward.js';
export { checkDecodeBatch, checkForwardRequest, checkSequenceIndex } from './validate-forward.js';
export type { ResolvedLoadOptions } from './validate-model.js';
export {
  resolveLoadOptions,
  validateGateTrainerRequest,
  validateLoadRequest,
  validateModelConfig,
  validateModelSource,
  validateModelWeights,
} from './validate-model.js';
