// The slice of node-red-node-test-helper 0.3.6 the tests use (it ships no types).
declare module 'node-red-node-test-helper' {
  interface TestNode {
    id: string;
    type: string;
    receive(msg: Record<string, unknown>): void;
    on(event: string, listener: (...args: any[]) => void): void;
    context(): { flow: { get(k: string): unknown; set(k: string, v: unknown): void }; global: { get(k: string): unknown; set(k: string, v: unknown): void } };
    [key: string]: any;
  }
  interface Helper {
    init(runtimePath: string, settings?: Record<string, unknown>): void;
    settings(settings: Record<string, unknown>): Record<string, unknown>;
    load(nodes: unknown, flow: object[], credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): TestNode;
    clearFlows(): Promise<void>;
    setFlows(flow: object[], type: 'nodes' | 'flows' | 'full', credentials?: Record<string, unknown>): Promise<void>;
    startServer(): Promise<void>;
    stopServer(): Promise<void>;
    request(): any;
    url(): string;
    log(): any;
  }
  const helper: Helper;
  export = helper;
}
