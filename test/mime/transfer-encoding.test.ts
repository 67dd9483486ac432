import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/core/errors.ts';
import { decodeTransferEncoding, encodeBase64Lines } from '../../src/mime/transfer-encoding.ts';

const binary = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 0xff));

describe('decodeTransferEncoding', () => {
  it('returns identity encodings unchanged, whatever the case', () => {
    for (const enc of ['binary', '8bit', '7BIT', ' Binary ']) expect(decodeTransferEncoding(binary, enc)).toEqual(binary);
  });

  it('decodes base64 in any case of the name, ignoring line breaks and white space', () => {
    const text = encodeBase64Lines(binary);
    expect(decodeTransferEncoding(Buffer.from(text), 'BASE64')).toEqual(binary);
    const lf = text.replace(/\r\n/g, '\n') + '\n';
    expect(decodeTransferEncoding(Buffer.from(lf), 'Base64')).toEqual(binary);
    const spaced = binary.toString('base64').replace(/(.{10})/g, '$1 \t');
    expect(decodeTransferEncoding(Buffer.from(spaced), 'base64')).toEqual(binary);
  });

  it('accepts base64 without padding', () => {
    expect(decodeTransferEncoding(Buffer.from('aGk'), 'base64').toString()).toBe('hi');
  });

  it('refuses base64 garbage instead of silently dropping characters', () => {
    for (const bad of ['aGk*', 'aGVsbG8=aGk=', 'a', 'aGk=x', 'aGVs bG8-', 'aG=']) {
      const err = catchError(() => decodeTransferEncoding(Buffer.from(bad), 'base64'));
      expect(err, bad).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('MALFORMED_MULTIPART');
    }
  });

  it('decodes quoted-printable: =XX in both cases, soft breaks CRLF and LF, hard breaks kept as given', () => {
    const qp = 'caf=C3=a9 cr=\r\nlf=\nend\r\nnext line\nlast=3D=3d';
    expect(decodeTransferEncoding(Buffer.from(qp), 'Quoted-Printable').toString('utf8')).toBe(
      'café crlfend\r\nnext line\nlast==',
    );
  });

  it('quoted-printable: trailing white space added in transport is deleted, =20 is kept, stray "=" stays literal', () => {
    const qp = 'a  \r\nb=20\r\nsoft= \t\r\nx=G1 =\n';
    expect(decodeTransferEncoding(Buffer.from(qp), 'quoted-printable').toString('latin1')).toBe('a\r\nb \r\nsoftx=G1 ');
  });

  it('quoted-printable with binary octets round-trips every byte value', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const qp = Array.from(all, (b) => `=${b.toString(16).padStart(2, '0')}`).join('').replace(/(.{72})/g, '$1=\r\n');
    expect(decodeTransferEncoding(Buffer.from(qp), 'quoted-printable')).toEqual(all);
  });

  it('refuses an unknown encoding with UNSUPPORTED_TRANSFER_ENCODING naming it', () => {
    const err = catchError(() => decodeTransferEncoding(Buffer.from('x'), 'x-uuencode'));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('UNSUPPORTED_TRANSFER_ENCODING');
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).message).toContain('x-uuencode');
  });
});

describe('encodeBase64Lines', () => {
  it('writes 76-character lines separated by CRLF with no trailing break', () => {
    const text = encodeBase64Lines(binary);
    const lines = text.split('\r\n');
    expect(lines.slice(0, -1).every((l) => l.length === 76)).toBe(true);
    expect(lines.at(-1)!.length).toBeGreaterThan(0);
    expect(lines.at(-1)!.length).toBeLessThanOrEqual(76);
    expect(text).not.toMatch(/\n(?<!\r\n)/);
    expect(Buffer.from(lines.join(''), 'base64')).toEqual(binary);
    expect(encodeBase64Lines(Buffer.from('hi'))).toBe('aGk=');
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}
