export { ActuatorDevice } from './actuator-device';
export type { ActuatorDeviceOptions, ActuatorSafeState, CylinderPosition, ValveKind } from './actuator-device';
export { ACTUATOR_OPERATIONS } from './operations';
