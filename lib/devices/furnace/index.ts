/** Furnace temperature controllers on Modbus: driver, operation table, presets, the generic map. */
export * from './furnace-device';
export * from './operations';
export * from './presets';
export * from './generic-map';
export { convertTemperature } from './furnace-registers';
