export * from './abort-context';
