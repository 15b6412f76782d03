/** Workcell's engine, usable without Node-RED: scopes, runs, the abort context, the device contract. */
export * from './scope';
export * from './run';
export * from './cell';
export * from './device';
export * from './errors/workcell-error';
