import { describeEndpoint, parseEndpoint, type Endpoint } from './endpoint';
import { SerialTransport, type SerialSettings } from './serial-transport';
import { TcpTransport, type TcpSettings } from './tcp-transport';
import type { Transport } from './transport';

/**
 * The transport for a connection address (see `parseEndpoint`): a `SerialTransport` for a
 * device path, a `TcpTransport` for `tcp://host:port`. Serial settings are ignored for TCP (the
 * device server has its own), TCP settings for serial. Throws an `EndpointError` for a bad address.
 */
export function createTransport(address: string | Endpoint, options: { serial?: SerialSettings; tcp?: TcpSettings } = {}): Transport {
  const endpoint = typeof address === 'string' ? parseEndpoint(address) : address;
  const description = describeEndpoint(endpoint);
  return endpoint.kind === 'serial'
    ? new SerialTransport(endpoint.path, options.serial, description)
    : new TcpTransport(endpoint.host, endpoint.port, options.tcp, description);
}
