/** GRBL 1.1 / grblHAL gantry: driver, link, errors, soft limits, programs, stop sequence, status monitor, operation table, codes. */
export * from './gantry-device';
export * from './gantry-options';
export * from './controller-watch';
export * from './grbl-errors';
export * from './grbl-link';
export * from './soft-limits';
export * from './parser-state';
export * from './program-source';
export * from './program-stream';
export * from './safe-check';
export * from './stop-sequence';
export * from './status-monitor';
export * from './operations';
export * from './codes';
export * from './status-report';
export * from './gcode-program';
