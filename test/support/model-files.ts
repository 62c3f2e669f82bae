// Model files for the downloader's tests and benchmark: valid safetensors of a chosen size (random data, so a wrong
// byte anywhere changes the checksum) and a malicious pickle (reduces to os.system when unpickled; never unpickled).
import { randomBytes } from 'node:crypto';

/** A valid safetensors file holding one F32 tensor of `bytes` (a multiple of 4) random bytes. */
export function safetensors(bytes: number): Buffer {
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [bytes / 4], data_offsets: [0, bytes] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, randomBytes(bytes)]);
}

/** A protocol-0 pickle that would run os.system('id') when unpickled (the scanner must name os.system). */
export const EVIL_PICKLE = Buffer.from("cos\nsystem\n(S'id'\ntR.", 'latin1');
