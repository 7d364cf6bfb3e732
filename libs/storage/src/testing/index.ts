// Test support for storage drivers; not part of the production entry point.
export * from './azurite';
export * from './blob-store-conformance';
