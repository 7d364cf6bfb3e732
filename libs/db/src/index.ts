export * from './client';
export * from './plain';
