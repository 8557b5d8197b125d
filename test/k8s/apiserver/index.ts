/**
 * In-process Kubernetes API server TEST DOUBLE (DESIGN.md, "Kubernetes in tests"). It lets the real
 * @kubernetes/client-node and the real kubectl talk HTTP to something with the API server's semantics for what
 * Cachalot uses; it is not a Kubernetes API server and is never shipped. Simplifications: docs/operator.md.
 */
export { ApiServerDouble, age, type ApiServerOptions, type Fault, type RequestInfo } from './server.js';
export { ApiError, Store, parseLabelSelector, type StoreEvent } from './store.js';
export { type ResourceDef } from './resources.js';
