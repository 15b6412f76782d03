/**
 * The slice of Node-RED's runtime API that Workcell's nodes use, typed locally: @types/node-red
 * still describes Node-RED 1.3, and these few members are stable across 3.x and 4.x.
 */
export interface NodeMessage {
  _msgid?: string;
  payload?: unknown;
  topic?: string;
  [key: string]: unknown;
}

export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export type SendFn = (msg: NodeMessage | (NodeMessage | NodeMessage[] | null)[] | null) => void;
export type DoneFn = (err?: Error) => void;

export interface RedNode {
  id: string;
  type: string;
  name?: string;
  z?: string;
  credentials?: Record<string, string>;
  /** The ids of the nodes each output is wired to (Node-RED keeps them on the node). */
  wires?: string[][];
  on(event: 'input', listener: (msg: NodeMessage, send: SendFn, done: DoneFn) => void): void;
  on(event: 'close', listener: ((removed: boolean, done: () => void) => void) | ((done: () => void) => void) | (() => void)): void;
  send(msg: NodeMessage | (NodeMessage | NodeMessage[] | null)[] | null): void;
  /** Hand `msg` to the node's input handlers now (Node-RED's router does this on a later turn). */
  receive(msg: NodeMessage): void;
  status(status: NodeStatus | Record<string, never>): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(message: unknown): void;
  log(message: unknown): void;
  debug(message: unknown): void;
  context(): { flow: ContextStore; global: ContextStore; get(key: string): unknown; set(key: string, value: unknown): void };
  _(key: string, substitutions?: Record<string, unknown>): string;
}

export interface ContextStore {
  get(key: string, store?: string): unknown;
  set(key: string, value: unknown, store?: string): void;
}

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
  [key: string]: unknown;
}

export interface HttpRequest {
  params: Record<string, string>;
  body?: unknown;
  query?: Record<string, unknown>;
  /** The editor user making the request, when the editor has authentication (adminAuth). */
  user?: { username?: string };
}
export interface HttpResponse {
  json(body: unknown): void;
  status(code: number): HttpResponse;
  send(body?: unknown): void;
  sendStatus(code: number): void;
}
type Handler = (req: HttpRequest, res: HttpResponse, next?: () => void) => void;

export interface RedAPI {
  nodes: {
    createNode(node: RedNode, def: NodeDef): void;
    registerType(type: string, ctor: (this: RedNode, def: NodeDef) => void, options?: { credentials?: Record<string, { type: string }>; settings?: Record<string, unknown> }): void;
    getNode(id: string): RedNode | null;
    /** Every node of the deployed flows, as saved (Node-RED 4: `flows.eachNode`). */
    eachNode?(callback: (node: NodeDef) => void): void;
  };
  httpAdmin: {
    get(path: string, ...handlers: Handler[]): void;
    post(path: string, ...handlers: Handler[]): void;
  };
  auth: { needsPermission(permission: string): Handler };
  settings: Record<string, unknown> & { nodeCloseTimeout?: number };
  util: {
    cloneMessage<T>(msg: T): T;
    evaluateNodeProperty(value: unknown, type: string, node: RedNode, msg: NodeMessage, callback?: (err: Error | null, value: unknown) => void): unknown;
    getMessageProperty(msg: NodeMessage, expr: string): unknown;
    generateId(): string;
  };
  log: { info(m: unknown): void; warn(m: unknown): void; error(m: unknown): void; debug(m: unknown): void };
  /** The runtime's events (`flows:stopping`, `flows:started`, …). */
  events?: { on(event: string, listener: (payload: unknown) => void): void };
  comms?: { publish(topic: string, data: unknown, retain?: boolean): void };
  /** Editor plugins (Node-RED's `plugins` in package.json); absent in node-red-node-test-helper. */
  plugins?: { registerPlugin(id: string, definition: Record<string, unknown>): void };
}

/** Node-RED's close timeout (settings.nodeCloseTimeout, default 15 s). */
export function closeTimeoutMs(RED: RedAPI): number {
  const t = Number(RED.settings.nodeCloseTimeout);
  return Number.isFinite(t) && t > 0 ? t : 15_000;
}
