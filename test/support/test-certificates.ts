import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files of a throw-away certificate authority and a server certificate it signed for 127.0.0.1. */
export interface TestCertificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Another CA, which did not sign the server's certificate. */
  otherCa: string;
}

/** Make them with openssl (EC P-256, valid two days) in a fresh directory readable by a broker that dropped its privileges. */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = mkdtempSync(join(tmpdir(), 'workcell-tls-'));
  chmodSync(dir, 0o755);
  const f = (name: string) => join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  await run('openssl', ['req', '-x509', ...key, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-subj', '/CN=Workcell test CA']);
  await run('openssl', ['req', '-x509', ...key, '-keyout', f('other-ca.key'), '-out', f('other-ca.pem'), '-subj', '/CN=Another CA']);
  await run('openssl', ['req', '-x509', ...key, '-keyout', f('server.key'), '-out', f('server.pem'), '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-CA', f('ca.pem'), '-CAkey', f('ca.key')]);
  for (const name of ['ca.pem', 'other-ca.pem', 'server.pem', 'server.key']) chmodSync(f(name), 0o644);
  return { dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), otherCa: f('other-ca.pem') };
}
