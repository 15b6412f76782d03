/** GRBL 1.1h simulator: public surface. */
export { GrblSimulator } from './simulator';
export type { GrblMachineState, RealtimeRecord, MotionEvent, SpindleState } from './simulator';
export { resolveOptions } from './options';
export type { GrblSimulatorOptions, ResolvedGrblOptions, Vec3, AxisTravel, HomingOptions } from './options';
export { ErrorCode, AlarmCode, Realtime, Message, ERROR_DESCRIPTIONS, realtimeName } from './codes';
export { filterLine, parseBlock, formatGcodeModes } from './gcode-parser';
export { StatusReporter } from './status-report';
export { GrblSettings } from './settings';
