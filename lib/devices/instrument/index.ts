/** SCPI measurement instruments (DMM, power supply): driver, operation table, presets, reply parsing. */
export * from './instrument-device';
export * from './operations';
export * from './presets';
export * from './output-limits';
export * from './scpi-error';
export * from './scpi-response';
