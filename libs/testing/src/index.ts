export * from './database';
export * from './http';
