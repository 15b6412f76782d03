export * from './abort-context';
export * from './watchdog';
