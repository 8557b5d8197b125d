// TEST DOUBLE: pod DNS for a real cachalot-sidecar process in the e2e (loaded with `node --import`). Ring members
// are named by pod DNS (`<pod>.<name>-headless.<ns>.svc.cluster.local:11211`), which only the test's
// LoopbackNetwork resolves; the test writes the live mapping "host:port" -> "127.0.0.x:port" to the JSON file
// named by CACHALOT_E2E_POD_DNS, and every connection the sidecar opens is sent where that file says. The
// sidecar's continuum is still computed on the DNS names, as on a cluster, and TLS still verifies them.
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';

const file = process.env.CACHALOT_E2E_POD_DNS;
const connect = net.connect;

function mapped(host, port) {
  try {
    const to = JSON.parse(readFileSync(file, 'utf8'))[`${host}:${port}`];
    if (typeof to === 'string') {
      const i = to.lastIndexOf(':');
      return { host: to.slice(0, i), port: Number(to.slice(i + 1)) };
    }
  } catch {
    // Not written yet, or mid-rename: the name stays unresolved, as DNS would leave it.
  }
  return undefined;
}

function patched(...args) {
  const opts = args[0];
  if (file && opts !== null && typeof opts === 'object' && typeof opts.host === 'string') {
    const to = mapped(opts.host, opts.port ?? 11211);
    if (to) args[0] = { ...opts, ...to };
  }
  return connect.apply(net, args);
}

net.connect = patched;
net.createConnection = patched;

// tls.connect opens its socket without net.connect. The certificate is still checked against the name the
// sidecar asked for (servername, as it sends it for a DNS name), not the loopback address.
const tlsConnect = tls.connect;
tls.connect = function patchedTls(...args) {
  const opts = args[0];
  if (file && opts !== null && typeof opts === 'object' && typeof opts.host === 'string') {
    const to = mapped(opts.host, opts.port ?? 11211);
    if (to) args[0] = { ...opts, ...to, servername: opts.servername ?? opts.host };
  }
  return tlsConnect.apply(tls, args);
};
// The sidecar imports `connect` from node:tls by name: named exports of built-ins follow only after this.
syncBuiltinESMExports();
