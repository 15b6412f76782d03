export { PressDevice, PRESS_INTERLOCKS, DEFAULT_PRESS_FAULT_TEXTS } from './press-device';
export type { PressDeviceOptions, PressInterlock, PressLimits, PressSnapshot } from './press-device';
export { PRESS_OPERATIONS } from './operations';
export { DEFAULT_PRESS_MAP, resolvePressMap } from './press-map';
export type { PressMap, PressMapOverrides } from './press-map';
