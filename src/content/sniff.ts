/**
 * Content sniffing from magic bytes, for remote content served without a useful Content-Type (absent, or a
 * generic `application/octet-stream`). Only the types an MMS can carry are recognised; anything else is
 * undefined and the caller refuses it. Signatures after the WHATWG MIME Sniffing standard §6 where it has one,
 * else the format's own spec (ISO/IEC 14496-12 §4.3 `ftyp` for ISO-BMFF, RFC 4867 §5 for AMR storage).
 */

const ascii = (b: Buffer, at: number, s: string): boolean =>
  b.length >= at + s.length && b.toString('latin1', at, at + s.length) === s;

/** ISO-BMFF major brand plus compatible brands (ISO/IEC 14496-12 §4.3), or undefined when no `ftyp` box leads. */
function ftypBrands(b: Buffer): string[] | undefined {
  if (b.length < 12 || !ascii(b, 4, 'ftyp')) return undefined;
  const boxSize = Math.min(b.readUInt32BE(0), b.length, 256);
  if (boxSize < 16) return [b.toString('latin1', 8, 12)];
  const brands = [b.toString('latin1', 8, 12)];
  for (let at = 16; at + 4 <= boxSize; at += 4) brands.push(b.toString('latin1', at, at + 4));
  return brands;
}

function isoBmffType(brands: string[]): string {
  const major = brands[0] ?? '';
  const has = (...xs: string[]): boolean => xs.some((x) => brands.includes(x));
  // AVIF first: an AVIF file lists mif1 too (AV1 Image File Format §8.2).
  if (major === 'avif' || major === 'avis') return 'image/avif';
  if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis'].includes(major)) return 'image/heic';
  if (major === 'mif1' || major === 'msf1') return has('avif', 'avis') ? 'image/avif' : 'image/heif';
  if (major.startsWith('3g2')) return 'video/3gpp2';
  if (major.startsWith('3gp') || major.startsWith('3ge') || major.startsWith('3gg')) return 'video/3gpp';
  if (major === 'M4A ' || major === 'M4B ') return 'audio/mp4';
  return 'video/mp4';
}

/** True when the bytes decode as UTF-8 text without control characters other than tab, CR, LF, FF. */
export function looksLikeText(b: Buffer): boolean {
  if (b.length === 0) return false;
  const sample = b.subarray(0, 4096);
  const s = new TextDecoder('utf-8', { fatal: false }).decode(sample);
  // A cut multi-byte sequence at the end of the sample is not an error; anything else replaced is.
  const body = s.endsWith('\uFFFD') ? s.replace(/\uFFFD+$/, '') : s;
  if (body.includes('\uFFFD')) return false;
  return !/[\u0000-\u0008\u000B\u000E-\u001F\u007F]/.test(body);
}

/** Strip a BOM, whitespace, an XML declaration, comments and a DOCTYPE: what precedes a root element. */
function xmlPrologueEnd(s: string): string {
  let t = s.replace(/^\uFEFF/, '').trimStart();
  for (let i = 0; i < 10; i++) {
    const m = /^(<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>]*>)\s*/i.exec(t);
    if (!m) break;
    t = t.slice(m[0].length);
  }
  return t;
}

/**
 * The media type the bytes carry, or undefined when they match no MMS-relevant format. Recognises JPEG, PNG,
 * GIF, WebP, BMP, HEIC/HEIF/AVIF and MP4/3GP/M4A (ftyp brands), TIFF, AMR/AMR-WB, MP3, WAV, Ogg, SMIL, vCard and
 * plain UTF-8 text.
 */
export function sniffContentType(bytes: Buffer): string | undefined {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return 'image/png';
  }
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) return 'image/gif';
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return 'image/webp';
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WAVE')) return 'audio/wav';
  if (ascii(b, 0, 'BM') && b.length >= 26 && b.readUInt32LE(14) >= 12) return 'image/bmp';
  if (ascii(b, 0, 'II*\u0000') || ascii(b, 0, 'MM\u0000*')) return 'image/tiff';
  const brands = ftypBrands(b);
  if (brands) return isoBmffType(brands);
  if (ascii(b, 0, '#!AMR-WB\n')) return 'audio/amr-wb';
  if (ascii(b, 0, '#!AMR\n')) return 'audio/amr';
  if (ascii(b, 0, 'ID3')) return 'audio/mpeg';
  // MPEG audio frame sync: 11 set bits, then a layer that is not "reserved" (ISO/IEC 11172-3 §2.4.2.3).
  if (b.length >= 2 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x06) !== 0) return 'audio/mpeg';
  if (ascii(b, 0, 'OggS')) return 'audio/ogg';
  if (!looksLikeText(b)) return undefined;
  const head = b.subarray(0, 4096).toString('utf8');
  if (/^<smil[\s>]/i.test(xmlPrologueEnd(head))) return 'application/smil';
  if (/^\uFEFF?\s*BEGIN:VCARD/i.test(head)) return 'text/x-vcard';
  return 'text/plain';
}
