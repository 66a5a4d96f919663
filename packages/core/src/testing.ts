// @duo-attn/core/testing: the conformance suite every backend runs, and its golden fixtures.
export {};
