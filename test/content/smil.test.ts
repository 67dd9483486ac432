import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { generateSmil, type SmilPart } from '../../src/content/smil.ts';

interface Media {
  '@_src': string;
  '@_region'?: string;
}
interface Par {
  '@_dur'?: string;
  img?: Media;
  video?: Media;
  text?: Media;
  audio?: Media;
  ref?: Media[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  processEntities: false,
  isArray: (name) => name === 'par' || name === 'ref' || name === 'region',
});

/** Parse generated SMIL and return its slides (throws when it is not well-formed). */
function slides(parts: SmilPart[]): Par[] {
  const xml = generateSmil(parts);
  expect(xml).not.toBeNull();
  expect(XMLValidator.validate(xml!)).toBe(true);
  const doc = parser.parse(xml!) as { smil: { '@_xmlns': string; head: { layout: { region: Array<{ '@_id': string }> } }; body: { par: Par[] } } };
  expect(doc.smil['@_xmlns']).toBe('http://www.w3.org/2001/SMIL20/Language');
  expect(doc.smil.head.layout.region.map((r) => r['@_id'])).toEqual(['Image', 'Text']);
  return doc.smil.body.par;
}

const p = (contentType: string, contentId: string): SmilPart => ({ contentType, contentId });

describe('generateSmil', () => {
  it('returns null when the message already has a SMIL part, or no parts', () => {
    expect(generateSmil([p('application/smil', 's'), p('image/jpeg', 'i')])).toBeNull();
    expect(generateSmil([p('application/smil+xml; charset=utf-8', 's')])).toBeNull();
    expect(generateSmil([])).toBeNull();
  });

  it('makes one slide for a text-only message', () => {
    const s = slides([p('text/plain; charset=utf-8', 'txt')]);
    expect(s).toHaveLength(1);
    expect(s[0]!.text).toEqual({ '@_src': 'cid:txt', '@_region': 'Text' });
    expect(s[0]!['@_dur']).toBe('5000ms');
    expect(s[0]!.img).toBeUndefined();
  });

  it('pairs each image with the text that follows it', () => {
    const s = slides([p('image/jpeg', 'i1'), p('text/plain', 't1'), p('image/gif', 'i2'), p('text/plain', 't2')]);
    expect(s.map((x) => [x.img?.['@_src'], x.text?.['@_src']])).toEqual([
      ['cid:i1', 'cid:t1'],
      ['cid:i2', 'cid:t2'],
    ]);
    expect(s[0]!.img!['@_region']).toBe('Image');
  });

  it('pairs with the preceding text when captions come first', () => {
    const s = slides([p('text/plain', 't1'), p('image/png', 'i1'), p('text/plain', 't2'), p('image/png', 'i2')]);
    expect(s.map((x) => [x.img?.['@_src'], x.text?.['@_src']])).toEqual([
      ['cid:i1', 'cid:t1'],
      ['cid:i2', 'cid:t2'],
    ]);
  });

  it('puts video in the Image region without a fixed duration, and gives extra text its own slide', () => {
    const s = slides([p('video/mp4', 'v'), p('text/plain', 't1'), p('text/plain', 't2')]);
    expect(s).toHaveLength(2);
    expect(s[0]!.video).toEqual({ '@_src': 'cid:v', '@_region': 'Image' });
    expect(s[0]!['@_dur']).toBeUndefined();
    expect(s[1]!.text!['@_src']).toBe('cid:t2');
    expect(s[1]!.video).toBeUndefined();
  });

  it('plays audio with the slide it follows and references other parts from the last slide', () => {
    const s = slides([p('image/jpeg', 'i'), p('audio/amr', 'a'), p('text/x-vcard', 'card')]);
    expect(s).toHaveLength(1);
    expect(s[0]!.audio!['@_src']).toBe('cid:a');
    expect(s[0]!.ref!.map((r) => r['@_src'])).toEqual(['cid:card']);
  });

  it('escapes content ids into valid cid: URLs', () => {
    const s = slides([p('image/jpeg', 'pic 1<&>"@example.com')]);
    expect(s[0]!.img!['@_src']).toBe('cid:pic%201%3C%26%3E%22@example.com');
  });

  it('refuses parts without a content id', () => {
    expect(() => generateSmil([p('image/jpeg', '')])).toThrow(TypeError);
  });
});
