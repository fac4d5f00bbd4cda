// Certificates for docker-compose.mtls.yml, made with openssl as its header describes them: a CA;
// the server's (DNS names temporal and localhost, serverAuth and clientAuth); the client's
// (clientAuth); and a stranger's client certificate from a CA the server does not trust.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

const openssl = (args: string[], cwd: string) => execa('openssl', args, { cwd });
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(['req', '-x509', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
}

async function makeLeaf(dir: string, name: string, ca: string, extensions: string): Promise<void> {
  await openssl(['req', '-new', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`], dir);
}

/** Writes ca.pem, server.pem/.key, client.pem/.key (the names the compose file reads) and stranger.pem/.key into `dir`. */
export async function makeMtlsCertificates(dir: string): Promise<void> {
  await makeCa(dir, 'ca');
  await makeLeaf(dir, 'server', 'ca', 'subjectAltName=DNS:temporal,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  await makeLeaf(dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
  await makeCa(dir, 'other-ca');
  await makeLeaf(dir, 'stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
}
