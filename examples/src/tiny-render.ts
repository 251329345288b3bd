// The demo's built-in renderer for machines without Blender: `node tiny-render.js FRAME OUT.png`
// writes a small PNG (a gradient that moves with the frame) after about a second of "render".
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function png(frame: number, size = 96): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      row[1 + x * 3] = (x * 255) / size;
      row[2 + x * 3] = (y * 255) / size;
      row[3 + x * 3] = (frame * 37) % 256;
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const [frameText, out] = process.argv.slice(2);
const frame = Number(frameText);
if (!Number.isInteger(frame) || !out) {
  console.error('usage: tiny-render FRAME OUT.png');
  process.exit(2);
}
const until = Date.now() + 1000;
while (Date.now() < until) Math.sqrt(Math.random()); // a second of work, like a small render
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, png(frame));
console.log(`rendered frame ${frame} to ${out}`);
