export * from './client';
export * from './outbox';
