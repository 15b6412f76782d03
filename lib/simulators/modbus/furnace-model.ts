/**
 * The physics and the control loop of a simulated furnace, in °C, % and simulated seconds,
 * whatever the controller's register map (the presets in furnace-presets.ts put registers on
 * it).
 *
 * Thermal model: first order with dead time. The heater's output u (0–100 %) reaches the
 * furnace `deadTimeS` later; the temperature T moves towards `ambient + gainPerPercent × u` with
 * the time constant `timeConstantS`, which is heating power limited by `powerLimit` and losses to
 * ambient proportional to T − ambient: dT/dt = (ambient + K·u(t − θ) − T) / τ.
 *
 * Control: a PID loop (parallel form on the error, output clamped to 0…`powerLimit` %, with
 * anti-windup: the integral stops growing while the output is clamped) drives u towards the
 * working setpoint. The working setpoint follows the target setpoint at most `rampRate` °C per
 * minute when a rate is set (0: at once). In manual mode the output is the manual output;
 * stopped, the output is 0, and run again the loop starts afresh (no integral; with a ramp
 * rate, the working setpoint from the present temperature). With a sensor break in auto the
 * loop cannot measure: the output goes to 0 % and the furnace cools (ASSUMPTION: 0 % as the
 * sensor-break output the units are commonly configured with).
 *
 * Time: simulated time is real time × `timeScale` (from `clock`, ms), integrated in steps of at
 * most `stepS` simulated seconds whenever the model is read or changed (`advance`), so a test
 * runs simulated minutes in seconds and nothing runs between requests.
 */
export interface FurnaceModelOptions {
  /** °C; the furnace starts at ambient. Default 20. */
  ambient?: number;
  /** °C the furnace settles above ambient per % of output. Default 10 (1000 °C above ambient at 100 %). */
  gainPerPercent?: number;
  /** τ, simulated s. Default 300. */
  timeConstantS?: number;
  /** θ, simulated s. Default 10. */
  deadTimeS?: number;
  /** Highest heater output, %. Default 100. */
  powerLimit?: number;
  /** Proportional gain, % per °C. Default 3 (tuned for the default plant: no overshoot). */
  kp?: number;
  /** Integral time, simulated s. Default 40. */
  integralS?: number;
  /** Derivative time, simulated s. Default 0. */
  derivativeS?: number;
  /** Simulated seconds per real second. Default 1. */
  timeScale?: number;
  /** Integration step, simulated s. Default 0.5. */
  stepS?: number;
  /** Real time in ms. Default `performance.now`. */
  clock?: () => number;
}

export class FurnaceModel {
  readonly ambient: number;
  readonly gainPerPercent: number;
  readonly timeConstantS: number;
  readonly deadTimeS: number;
  readonly powerLimit: number;
  readonly kp: number;
  readonly integralS: number;
  readonly derivativeS: number;
  timeScale: number;
  private readonly stepS: number;
  private readonly clock: () => number;
  private lastReal: number;
  private simulated = 0;
  private temperature: number;
  /** Outputs on their way to the furnace (the dead time), oldest first, one per step. */
  private readonly delayLine: number[];
  private integral = 0;
  private previousError: number | null = null;
  private outputNow = 0;
  private targetValue: number;
  private workingValue: number;
  private rateValue = 0;
  private runningValue = true;
  private manualValue = false;
  private manualOutputValue = 0;
  private brokenValue = false;

  constructor(options: FurnaceModelOptions = {}) {
    this.ambient = options.ambient ?? 20;
    this.gainPerPercent = options.gainPerPercent ?? 10;
    this.timeConstantS = options.timeConstantS ?? 300;
    this.deadTimeS = options.deadTimeS ?? 10;
    this.powerLimit = options.powerLimit ?? 100;
    this.kp = options.kp ?? 3;
    this.integralS = options.integralS ?? 40;
    this.derivativeS = options.derivativeS ?? 0;
    this.timeScale = options.timeScale ?? 1;
    this.stepS = options.stepS ?? 0.5;
    this.clock = options.clock ?? (() => performance.now());
    this.lastReal = this.clock();
    this.temperature = this.ambient;
    this.targetValue = this.ambient;
    this.workingValue = this.ambient;
    this.delayLine = new Array<number>(Math.max(0, Math.round(this.deadTimeS / this.stepS))).fill(0);
  }

  /** Simulated seconds since the model was made. */
  get simulatedSeconds(): number {
    this.advance();
    return this.simulated;
  }

  /** The furnace's true temperature, °C (what the sensor would read if it were whole). */
  get temperatureC(): number {
    this.advance();
    return this.temperature;
  }

  /** The heater output the controller drives now, % (0 while stopped or with a sensor break in auto). */
  get output(): number {
    this.advance();
    return this.outputNow;
  }

  /** The target setpoint, °C. */
  get target(): number {
    return this.targetValue;
  }

  set target(value: number) {
    this.advance();
    this.targetValue = value;
    if (this.rateValue <= 0) this.workingValue = value;
  }

  /** The working setpoint the loop controls to (the target, reached at the ramp rate), °C. */
  get working(): number {
    this.advance();
    return this.workingValue;
  }

  /** The setpoint ramp rate, °C per minute; 0: none. */
  get rampRate(): number {
    return this.rateValue;
  }

  set rampRate(value: number) {
    this.advance();
    this.rateValue = Math.max(0, value);
    if (this.rateValue === 0) this.workingValue = this.targetValue;
  }

  get running(): boolean {
    return this.runningValue;
  }

  /** Stopping turns the output off at once; running again starts the loop afresh from the present temperature. */
  set running(value: boolean) {
    this.advance();
    if (value && !this.runningValue) {
      this.integral = 0;
      this.previousError = null;
      this.workingValue = this.rateValue > 0 ? this.temperature : this.targetValue;
    }
    if (!value) this.outputNow = 0;
    this.runningValue = value;
  }

  get manual(): boolean {
    return this.manualValue;
  }

  /** Manual: the output is `manualOutput`. Back to auto, the loop starts bumplessly from the present output. */
  set manual(value: boolean) {
    this.advance();
    if (!value && this.manualValue) {
      this.integral = this.kp > 0 ? (this.outputNow / this.kp - (this.workingValue - this.temperature)) * this.integralS : 0;
      this.previousError = null;
    }
    this.manualValue = value;
  }

  /** The manual output, %, clamped to 0…powerLimit. */
  get manualOutput(): number {
    return this.manualOutputValue;
  }

  set manualOutput(value: number) {
    this.advance();
    this.manualOutputValue = Math.min(this.powerLimit, Math.max(0, value));
  }

  get sensorBroken(): boolean {
    return this.brokenValue;
  }

  set sensorBroken(value: boolean) {
    this.advance();
    this.brokenValue = value;
  }

  /** Bring the model up to the present (real time × timeScale). */
  advance(): void {
    const now = this.clock();
    let remaining = ((now - this.lastReal) / 1000) * this.timeScale;
    this.lastReal = now;
    while (remaining > 1e-9) {
      const dt = Math.min(this.stepS, remaining);
      this.step(dt);
      remaining -= dt;
    }
  }

  /** Advance by `seconds` of simulated time now, whatever the clock says (for tests that set the scene). */
  skip(seconds: number): void {
    this.advance();
    let remaining = seconds;
    while (remaining > 1e-9) {
      const dt = Math.min(this.stepS, remaining);
      this.step(dt);
      remaining -= dt;
    }
  }

  private step(dt: number): void {
    this.simulated += dt;
    if (this.rateValue > 0 && this.workingValue !== this.targetValue) {
      const delta = (this.rateValue / 60) * dt;
      this.workingValue = this.workingValue < this.targetValue ? Math.min(this.targetValue, this.workingValue + delta) : Math.max(this.targetValue, this.workingValue - delta);
    }
    let u: number;
    if (!this.runningValue) {
      u = 0;
    } else if (this.manualValue) {
      u = this.manualOutputValue;
    } else if (this.brokenValue) {
      u = 0;
    } else {
      const e = this.workingValue - this.temperature;
      const d = this.previousError === null ? 0 : (e - this.previousError) / dt;
      this.previousError = e;
      const unclamped = this.kp * (e + this.integral / this.integralS + this.derivativeS * d);
      if (unclamped > this.powerLimit) u = this.powerLimit;
      else if (unclamped < 0) u = 0;
      else {
        u = unclamped;
        this.integral += e * dt;
      }
    }
    this.outputNow = u;
    // The delay line holds one output per step of `stepS`; a shorter step still moves it on,
    // which shortens the dead time by less than a step: close enough for a simulator.
    let applied = u;
    if (this.delayLine.length > 0) {
      this.delayLine.push(u);
      applied = this.delayLine.shift()!;
    }
    this.temperature += ((this.ambient + this.gainPerPercent * applied - this.temperature) / this.timeConstantS) * dt;
  }
}
