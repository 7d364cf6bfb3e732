export * from './blob-store';
export * from './filesystem.driver';
export * from './create-blob-store';
export * from './release-memory';
