export * from './reasons';
export * from './cancel-scope';
export * from './task-group';
