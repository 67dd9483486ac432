import { describe, expect, it } from 'vitest';
import { sniffContentType } from '../../src/content/sniff.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** An ISO-BMFF file head: an ftyp box with a major brand and compatible brands. */
function ftyp(major: string, ...compatible: string[]): Buffer {
  const size = 16 + 4 * compatible.length;
  const b = Buffer.alloc(size + 8);
  b.writeUInt32BE(size, 0);
  b.write('ftyp', 4, 'latin1');
  b.write(major, 8, 'latin1');
  compatible.forEach((c, i) => b.write(c, 16 + 4 * i, 'latin1'));
  return b;
}

describe('sniffContentType', () => {
  it.each<[string, Buffer, string | undefined]>([
    ['JPEG', hex('ffd8ffe000104a464946'), 'image/jpeg'],
    ['PNG', hex('89504e470d0a1a0a0000000d49484452'), 'image/png'],
    ['GIF89a', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), 'image/gif'],
    ['GIF87a', Buffer.from('GIF87a\x01\x00\x01\x00', 'latin1'), 'image/gif'],
    ['WebP', Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1'), 'image/webp'],
    ['TIFF little-endian', hex('49492a0008000000'), 'image/tiff'],
    ['TIFF big-endian', hex('4d4d002a00000008'), 'image/tiff'],
    ['HEIC', ftyp('heic', 'mif1', 'heic'), 'image/heic'],
    ['HEIF mif1', ftyp('mif1', 'mif1', 'heic'), 'image/heif'],
    ['AVIF', ftyp('avif', 'mif1', 'miaf'), 'image/avif'],
    ['AVIF under mif1', ftyp('mif1', 'avif', 'miaf'), 'image/avif'],
    ['MP4', ftyp('isom', 'isom', 'iso2', 'mp41'), 'video/mp4'],
    ['3GP', ftyp('3gp4', '3gp4', 'isom'), 'video/3gpp'],
    ['3G2', ftyp('3g2a', '3g2a'), 'video/3gpp2'],
    ['M4A', ftyp('M4A ', 'M4A ', 'mp42'), 'audio/mp4'],
    ['AMR', Buffer.from('#!AMR\n\x3c', 'latin1'), 'audio/amr'],
    ['AMR-WB', Buffer.from('#!AMR-WB\n\x04', 'latin1'), 'audio/amr-wb'],
    ['MP3 with ID3', Buffer.from('ID3\x03\x00\x00\x00', 'latin1'), 'audio/mpeg'],
    ['MP3 frame', hex('fffb9064000000'), 'audio/mpeg'],
    ['SMIL', Buffer.from('<smil><body/></smil>'), 'application/smil'],
    ['SMIL with prologue', Buffer.from('\uFEFF<?xml version="1.0"?>\n<!-- x -->\n<smil xmlns="http://www.w3.org/2001/SMIL20/Language">'), 'application/smil'],
    ['vCard', Buffer.from('BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n'), 'text/x-vcard'],
    ['UTF-8 text', Buffer.from('Grüße aus Köln – 10 % off\n'), 'text/plain'],
    ['binary junk', hex('000102030405060708'), undefined],
    ['empty', Buffer.alloc(0), undefined],
    ['Latin-1 bytes that are not UTF-8', Buffer.from('caf\xe9 cr\xe8me', 'latin1'), undefined],
  ])('%s', (_name, bytes, type) => {
    expect(sniffContentType(bytes)).toBe(type);
  });
});
