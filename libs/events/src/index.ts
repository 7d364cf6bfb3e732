export * from './outbox-events';
export * from './queues';
export * from './job-queue';
export * from './webhook-scope';
export * from './webhook-payloads';
export * from './webhook-signature';
export * from './webhook-target-policy';
export * from './webhook-secrets';
