import { EndpointError } from './errors';

/** Where a connection goes: a local serial device, or a TCP socket (serial device server, instrument). */
export type Endpoint =
  | { readonly kind: 'serial'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

const windowsPort = /^(\\\\\.\\)?COM[1-9][0-9]{0,2}$/i;

/**
 * Parses a connection address as typed by a user:
 * - a serial device path: absolute POSIX path (`/dev/ttyUSB0`, `/dev/serial/by-id/...`) or a
 *   Windows port (`COM3`, `\\.\COM12`);
 * - `tcp://host:port` with a host name, IPv4 address or bracketed IPv6 address and a port
 *   1–65535 (raw TCP: ser2net, a serial device server, an instrument on 5025).
 * Surrounding whitespace is ignored. Anything else throws an `EndpointError` whose message says
 * what is wrong with the address.
 */
export function parseEndpoint(address: string): Endpoint {
  if (typeof address !== 'string') throw new EndpointError(address, 'expected text such as /dev/ttyUSB0, COM3 or tcp://host:port');
  const text = address.trim();
  if (text === '') throw new EndpointError(address, 'it is empty; expected a device path such as /dev/ttyUSB0 or COM3, or tcp://host:port');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme) {
    if (scheme[1].toLowerCase() !== 'tcp') {
      throw new EndpointError(address, `the scheme "${scheme[1]}" is not supported; use tcp://host:port or a device path`);
    }
    return parseTcp(address, text);
  }
  if (windowsPort.test(text)) return { kind: 'serial', path: text };
  if (text.startsWith('/')) {
    if (/[\0\s]/.test(text)) throw new EndpointError(address, 'a device path cannot contain spaces or control characters');
    return { kind: 'serial', path: text };
  }
  throw new EndpointError(address, 'expected an absolute device path (/dev/ttyUSB0), a Windows port (COM3) or tcp://host:port');
}

function parseTcp(address: string, text: string): Endpoint {
  const match = /^tcp:\/\/(\[[^\]]*\]|[^:/@?#\s]*)(?::([^/]*))?\/?$/i.exec(text);
  if (!match) throw new EndpointError(address, 'expected tcp://host:port with nothing after the port, e.g. tcp://192.168.1.20:5025');
  const [, rawHost, portText] = match;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (!host) throw new EndpointError(address, 'the host is missing; expected tcp://host:port');
  if (rawHost.startsWith('[') ? !/^[0-9a-f:.]+$/i.test(host) : !/^[a-z0-9.-]+$/i.test(host)) {
    throw new EndpointError(address, `the host "${host}" is not a host name or IP address`);
  }
  if (portText === undefined || portText === '') {
    throw new EndpointError(address, 'the port is missing; expected tcp://host:port, e.g. tcp://192.168.1.20:5025');
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new EndpointError(address, `the port "${portText}" is not a number from 1 to 65535`);
  return { kind: 'tcp', host, port };
}

/** The canonical text of an endpoint, as used in messages: `/dev/ttyUSB0` or `tcp://host:port`. */
export function describeEndpoint(endpoint: Endpoint): string {
  if (endpoint.kind === 'serial') return endpoint.path;
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `tcp://${host}:${endpoint.port}`;
}
