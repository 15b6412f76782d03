/** GRBL 1.1 / grblHAL gantry: driver, operation table, status-report parser, error and alarm meanings, program checks. */
export * from './gantry-device';
export * from './operations';
export * from './codes';
export * from './status-report';
export * from './gcode-program';
