import { randomBytes } from 'node:crypto';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { AdaptError, adaptForOperator, PART_OVERHEAD_BYTES, type AdaptPart } from '../../src/content/adapt.ts';
import { OUTCOMES } from '../../src/core/outcomes.ts';
import { PermanentError } from '../../src/core/retry-policy.ts';

/** An RGB noise image: incompressible, so PNG stays about width*height*3 bytes. */
function noise(width: number, height: number): Sharp {
  return sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } });
}

const solid = (width: number, height: number, background: string): Sharp =>
  sharp({ create: { width, height, channels: 3, background } });

async function animatedGif(width: number, height: number, frames: number): Promise<Buffer> {
  const pngs = await Promise.all(Array.from({ length: frames }, () => noise(width, height).png().toBuffer()));
  return sharp(pngs, { join: { animated: true } }).gif({ loop: 0, delay: Array(frames).fill(200) }).toBuffer();
}

const totalWithOverhead = (parts: AdaptPart[]): number => parts.reduce((n, p) => n + p.bytes.length + PART_OVERHEAD_BYTES, 0);

describe('adaptForOperator', () => {
  it('shrinks a ~3 MB PNG into a 300 KB message as a decodable image, leaving the text alone', async () => {
    const png = await noise(1000, 1000).png({ compressionLevel: 1 }).toBuffer();
    expect(png.length).toBeGreaterThan(2_900_000);
    const text = Buffer.from('Spring sale: 20 % off everything this weekend');
    const { parts, changes } = await adaptForOperator(
      [
        { contentType: 'text/plain; charset=utf-8', contentId: 'text1', bytes: text },
        { contentType: 'image/png', contentId: 'img1', bytes: png },
      ],
      { maxMessageBytes: 300_000 },
    );
    expect(totalWithOverhead(parts)).toBeLessThanOrEqual(300_000);
    expect(parts.map((p) => p.contentId)).toEqual(['text1', 'img1']);
    expect(parts[0]!.bytes.equals(text)).toBe(true);
    expect(parts[0]!.contentType).toBe('text/plain; charset=utf-8');
    const meta = await sharp(parts[1]!.bytes).metadata();
    expect(meta.format).toBe('jpeg');
    expect(parts[1]!.contentType).toBe('image/jpeg');
    expect(meta.width).toBeGreaterThanOrEqual(100);
    expect(changes).toEqual([
      expect.objectContaining({ contentId: 'img1', action: 'compress', fromType: 'image/png', toType: 'image/jpeg', fromBytes: png.length, toBytes: parts[1]!.bytes.length, width: meta.width, height: meta.height }),
    ]);
  });

  it('converts WebP to JPEG and keeps the content id that a SMIL part references', async () => {
    const webp = await solid(400, 300, '#3366cc').webp().toBuffer();
    const smil = Buffer.from('<smil><body><par><img src="cid:photo" region="Image"/></par></body></smil>');
    const { parts, changes } = await adaptForOperator(
      [
        { contentType: 'application/smil', contentId: 'pres', bytes: smil },
        { contentType: 'image/webp', contentId: 'photo', bytes: webp },
      ],
      { maxMessageBytes: 600_000 },
    );
    expect(parts[0]!.bytes.equals(smil)).toBe(true);
    expect(parts[1]!.contentId).toBe('photo');
    expect(parts[1]!.contentType).toBe('image/jpeg');
    const meta = await sharp(parts[1]!.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 400, 300]);
    expect(changes).toEqual([expect.objectContaining({ contentId: 'photo', action: 'convert', fromType: 'image/webp', toType: 'image/jpeg', width: 400, height: 300 })]);
  });

  it('converts TIFF and AVIF as well', async () => {
    const tiff = await solid(64, 48, '#aa0000').tiff().toBuffer();
    const avif = await solid(64, 48, '#00aa00').avif().toBuffer();
    const { parts } = await adaptForOperator(
      [
        { contentType: 'image/tiff', contentId: 't', bytes: tiff },
        { contentType: 'image/avif', contentId: 'a', bytes: avif },
      ],
      { maxMessageBytes: 300_000 },
    );
    for (const p of parts) {
      expect(p.contentType).toBe('image/jpeg');
      expect((await sharp(p.bytes).metadata()).format).toBe('jpeg');
    }
  });

  it('turns a small photo with an EXIF orientation upright, so a handset that ignores EXIF shows it as taken', async () => {
    // Stored 120 x 80 with the left half red; orientation 6 (rotate 90° clockwise to display) puts red on top.
    const red = await solid(60, 80, '#ff0000').png().toBuffer();
    const jpeg = await solid(120, 80, '#0000ff').composite([{ input: red, left: 0, top: 0 }]).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const { parts, changes } = await adaptForOperator([{ contentType: 'image/jpeg', contentId: 'p', bytes: jpeg }], { maxMessageBytes: 300_000 });
    const meta = await sharp(parts[0]!.bytes).metadata();
    expect({ w: meta.width, h: meta.height, orientation: meta.orientation ?? 1 }).toEqual({ w: 80, h: 120, orientation: 1 });
    const { data } = await sharp(parts[0]!.bytes).raw().toBuffer({ resolveWithObject: true });
    const pixel = (x: number, y: number): number[] => [...data.subarray((y * 80 + x) * 3, (y * 80 + x) * 3 + 3)];
    expect(pixel(40, 10)[0]).toBeGreaterThan(200); // top: red
    expect(pixel(40, 110)[2]).toBeGreaterThan(200); // bottom: blue
    expect(changes).toEqual([expect.objectContaining({ contentId: 'p', action: 'orient', fromType: 'image/jpeg', toType: 'image/jpeg', width: 80, height: 120 })]);
  });

  it('a small CMYK JPEG becomes sRGB (handset decoders take YCbCr JPEG only), colours kept', async () => {
    const cmyk = await solid(120, 80, '#00c000').toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const { parts, changes } = await adaptForOperator([{ contentType: 'image/jpeg', contentId: 'c', bytes: cmyk }], { maxMessageBytes: 300_000 });
    expect(await sharp(parts[0]!.bytes).metadata()).toMatchObject({ format: 'jpeg', space: 'srgb', width: 120, height: 80 });
    const { data } = await sharp(parts[0]!.bytes).raw().toBuffer({ resolveWithObject: true });
    // Still green (a CMYK round trip is not exact, but the colour must not shift or invert).
    expect(data[1]! - data[0]!).toBeGreaterThan(50);
    expect(data[1]! - data[2]!).toBeGreaterThan(50);
    expect(changes).toEqual([expect.objectContaining({ contentId: 'c', action: 'convert', fromType: 'image/jpeg', toType: 'image/jpeg' })]);
  });

  it('an image labelled with another image type than its bytes (a JPEG sent as image/png) gets the right label, bytes untouched', async () => {
    const jpeg = await solid(64, 48, '#336699').jpeg().toBuffer();
    const { parts } = await adaptForOperator([{ contentType: 'image/png', contentId: 'j', bytes: jpeg }], { maxMessageBytes: 300_000 });
    expect(parts[0]!.contentType).toBe('image/jpeg');
    expect(parts[0]!.bytes.equals(jpeg)).toBe(true);
  });

  it('fits images to the operator’s maximum dimensions', async () => {
    const jpeg = await solid(800, 600, '#808080').jpeg().toBuffer();
    const { parts, changes } = await adaptForOperator([{ contentType: 'image/jpeg', contentId: 'i', bytes: jpeg }], {
      maxMessageBytes: 300_000,
      maxImageWidth: 320,
      maxImageHeight: 480,
    });
    const meta = await sharp(parts[0]!.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([320, 240]);
    expect(changes[0]).toMatchObject({ action: 'resize', fromType: 'image/jpeg', toType: 'image/jpeg', width: 320, height: 240 });
  });

  it('leaves an animated GIF untouched when it fits, and keeps it animated when resized', async () => {
    const gif = await animatedGif(160, 120, 4);
    const untouched = await adaptForOperator([{ contentType: 'image/gif', contentId: 'g', bytes: gif }], { maxMessageBytes: 1_000_000 });
    expect(untouched.changes).toEqual([]);
    expect(untouched.parts[0]!.bytes.equals(gif)).toBe(true);

    const fitted = await adaptForOperator([{ contentType: 'image/gif', contentId: 'g', bytes: gif }], { maxMessageBytes: 1_000_000, maxImageWidth: 80 });
    const meta = await sharp(fitted.parts[0]!.bytes, { animated: true }).metadata();
    expect([meta.format, meta.pages, meta.width, meta.pageHeight]).toEqual(['gif', 4, 80, 60]);
    expect(fitted.parts[0]!.contentType).toBe('image/gif');
  });

  it('shrinks an animated GIF as a GIF, animation kept, when that is enough', async () => {
    const gif = await animatedGif(200, 200, 4);
    const limit = Math.round(gif.length * 0.6);
    const { parts, changes } = await adaptForOperator([{ contentType: 'image/gif', contentId: 'g', bytes: gif }], { maxMessageBytes: limit });
    expect(totalWithOverhead(parts)).toBeLessThanOrEqual(limit);
    const meta = await sharp(parts[0]!.bytes, { animated: true }).metadata();
    expect([meta.format, meta.pages]).toEqual(['gif', 4]);
    expect(changes[0]).toMatchObject({ action: 'compress', fromType: 'image/gif', toType: 'image/gif' });
  });

  it('keeps a PNG with transparency as PNG (palette) when that fits', async () => {
    const rgba = await sharp(randomBytes(300 * 300 * 4), { raw: { width: 300, height: 300, channels: 4 } }).png().toBuffer();
    const { parts, changes } = await adaptForOperator([{ contentType: 'image/png', contentId: 'p', bytes: rgba }], { maxMessageBytes: 150_000 });
    expect(totalWithOverhead(parts)).toBeLessThanOrEqual(150_000);
    const meta = await sharp(parts[0]!.bytes).metadata();
    expect([meta.format, meta.hasAlpha, meta.width]).toEqual(['png', true, 300]);
    expect(changes[0]).toMatchObject({ action: 'compress', fromType: 'image/png', toType: 'image/png' });
  });

  it('shrinks the largest image first and leaves a small one alone when that suffices', async () => {
    const big = await noise(800, 800).jpeg({ quality: 95 }).toBuffer();
    const small = await noise(100, 100).jpeg({ quality: 80 }).toBuffer();
    const limit = 250_000;
    expect(big.length + small.length).toBeGreaterThan(limit);
    const { parts, changes } = await adaptForOperator(
      [
        { contentType: 'image/jpeg', contentId: 'small', bytes: small },
        { contentType: 'image/jpeg', contentId: 'big', bytes: big },
      ],
      { maxMessageBytes: limit },
    );
    expect(totalWithOverhead(parts)).toBeLessThanOrEqual(limit);
    expect(parts[0]!.bytes.equals(small)).toBe(true);
    expect(changes.map((c) => c.contentId)).toEqual(['big']);
  });

  it('refuses a message whose video alone is too large, with outcome TOO_LARGE', async () => {
    const mp4 = Buffer.concat([Buffer.from('0000001c6674797069736f6d0000020069736f6d69736f32', 'hex'), randomBytes(400_000)]);
    const err = await adaptForOperator(
      [
        { contentType: 'text/plain', contentId: 't', bytes: Buffer.from('watch this') },
        { contentType: 'video/mp4', contentId: 'v', bytes: mp4 },
      ],
      { maxMessageBytes: 300_000 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdaptError);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as AdaptError).outcome).toBe(OUTCOMES.TOO_LARGE);
  });

  it('never transcodes audio or video that fits', async () => {
    const amr = Buffer.concat([Buffer.from('#!AMR\n'), randomBytes(5000)]);
    const input = [{ contentType: 'audio/amr', contentId: 'a', bytes: amr }];
    const { parts, changes } = await adaptForOperator(input, { maxMessageBytes: 300_000 });
    expect(parts[0]!.bytes.equals(amr)).toBe(true);
    expect(changes).toEqual([]);
  });

  it('never renders SVG (it may reference external resources): passed through as sent', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    const { parts, changes } = await adaptForOperator([{ contentType: 'image/svg+xml', contentId: 's', bytes: svg }], { maxMessageBytes: 300_000 });
    expect(parts[0]).toEqual({ contentType: 'image/svg+xml', contentId: 's', bytes: svg });
    expect(changes).toEqual([]);
  });

  it('passes an undecodable image through unchanged when it fits, and refuses when it does not', async () => {
    const junk = randomBytes(2000);
    const ok = await adaptForOperator([{ contentType: 'image/jpeg', contentId: 'x', bytes: junk }], { maxMessageBytes: 300_000 });
    expect(ok.parts[0]!.bytes.equals(junk)).toBe(true);
    await expect(adaptForOperator([{ contentType: 'image/jpeg', contentId: 'x', bytes: junk }], { maxMessageBytes: 1000 })).rejects.toBeInstanceOf(AdaptError);
  });
});
