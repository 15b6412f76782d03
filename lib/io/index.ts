/**
 * The I/O layer: transports (serial, TCP), line framing, and a reconnecting line connection
 * with request/reply matching, pipelining and real-time writes, each concern in a file of its
 * own (line-framer, reconnect-loop, request-pipeline, in-flight-requests) composed by
 * line-connection. Drivers import from here.
 */
export * from './errors';
export * from './transport';
export * from './endpoint';
export * from './serial-transport';
export * from './tcp-transport';
export * from './create-transport';
export * from './line-framer';
export * from './control-characters';
export * from './reply-matchers';
export * from './backoff';
export * from './line-connection';
export * from './port-list';
export * from './serve-on-serial';
export * from './modbus';
