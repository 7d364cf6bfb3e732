export * from './database';
export * from './http';
export * from './redis-and-waiting';
