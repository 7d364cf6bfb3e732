export * from './client';
export * from './outbox';
export * from './locks';
export * from './sql';
export * from './repository-delete';
