/**
 * SCPI instrument simulators: a Keysight 34461A DMM and a Rigol DP821 two-channel power supply,
 * sharing one SCPI engine. They speak the real wire protocol over any Duplex stream or TCP, so
 * drivers are tested against the bytes a real instrument would send.
 */
export { Dmm34461A } from './dmm';
export type { DmmFunction, DmmOptions, DmmReading } from './dmm';
export { RigolDP821 } from './power-supply';
export type { ChannelRating, OutputSnapshot, PowerSupplyOptions, RegulationMode } from './power-supply';
export { ScpiInstrument } from './instrument';
export type { AbortEvent, CommandDef, CommandLogEntry, Dialect, Handler, Identity, ScpiInstrumentOptions, SimulatorFaults } from './instrument';
export { ErrorQueue } from './error-queue';
export type { ScpiErrorEntry } from './error-queue';
export { ScpiError, SCPI_ERROR_TEXT } from './errors';
export { CommandContext } from './context';
export type { NumberSpec } from './context';
export type { ListenAddress } from './server';
export { formatNR3, formatNR1, formatFixed } from './format';
