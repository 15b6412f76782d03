export * from './device';
export * from './operations';
export * from './command-queue';
