/** The Modbus client bus (TCP and RTU) and the contract its devices hold. */
export * from './modbus-unit';
export * from './modbus-errors';
export * from './modbus-bus';
export { crc16 } from './crc16';
export { FUNCTION_LIMITS, describeRequest } from './pdu';
