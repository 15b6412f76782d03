export * from './broker-link';
export * from './cell-link';
export * from './estop-payload';
export * from './embedded-broker';
