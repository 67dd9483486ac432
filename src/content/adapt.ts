/**
 * Content adaptation: make a message's parts fit what an operator's MMSC takes (3GPP TS 23.140 §6.4 content
 * adaptation is the MMSC's job in principle, but MMSCs reject oversized messages rather than adapt them, so the
 * gateway does it before submission).
 *
 * 1. Images handsets do not take (WebP, HEIC/HEIF/AVIF, TIFF: the raster formats sharp decodes other than JPEG,
 *    PNG and GIF) become JPEG (animated WebP becomes animated GIF); every image is fitted to the operator's maximum
 *    dimensions, one with an EXIF orientation is turned upright, a CMYK JPEG becomes sRGB, and a part labelled
 *    with another image type than its bytes carry gets the right label.
 * 2. While the message (part sizes plus a per-part MIME overhead allowance) exceeds maxMessageBytes, the largest
 *    image is shrunk: JPEG re-encoded at decreasing quality, then decreasing dimensions; PNG without alpha becomes
 *    JPEG, PNG with alpha is palette-quantised first; GIF keeps its animation while that can fit.
 * Text and SMIL are never altered, audio and video never transcoded; content ids never change, so a SMIL
 * presentation's `cid:` references stay valid.
 */
import sharp, { type Metadata, type Sharp } from 'sharp';
import { OUTCOMES, type Outcome } from '../core/outcomes.ts';
import { PermanentError } from '../core/retry-policy.ts';
import { mediaTypeOf } from './guarded-fetch.ts';
import { sniffContentType } from './sniff.ts';

/** One message part as adaptation sees it. */
export interface AdaptPart {
  contentType: string;
  contentId: string;
  bytes: Buffer;
}

/** An operator's limits. */
export interface OperatorLimits {
  maxMessageBytes: number;
  maxImageWidth?: number;
  maxImageHeight?: number;
  /** Bytes allowed per part for its MIME headers and boundary (default {@link PART_OVERHEAD_BYTES}). */
  partOverheadBytes?: number;
}

/** What was done to one part. */
export interface AdaptChange {
  contentId: string;
  /**
   * convert: new format or colour space (CMYK to sRGB); resize: fitted to the operator's maximum dimensions; orient: EXIF orientation applied to the
   * pixels; compress: shrunk to fit the size limit.
   */
  action: 'convert' | 'resize' | 'orient' | 'compress';
  fromType: string;
  toType: string;
  fromBytes: number;
  toBytes: number;
  /** Dimensions after the change (one frame's height for animations). */
  width: number;
  height: number;
}

/** Per-part allowance for MIME headers (Content-Type, Content-ID, Content-Location, boundary line). */
export const PART_OVERHEAD_BYTES = 300;
/** Decoding limit against decompression bombs (sharp's default is 268 Mpx). */
export const MAX_INPUT_PIXELS = 50_000_000;
/** Images are not shrunk below this many pixels on their shorter side. */
export const MIN_DIMENSION = 32;

/** The message cannot be made to fit the operator (final: outcome TOO_LARGE). */
export class AdaptError extends PermanentError {
  readonly outcome: Outcome = OUTCOMES.TOO_LARGE;
  constructor(message: string) {
    super(message);
    this.name = 'AdaptError';
  }
}

/** Sniffed types handed to sharp. */
const DECODABLE = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/heic', 'image/heif', 'image/avif', 'image/tiff']);
const HANDSET_IMAGE_FORMATS = new Set(['jpeg', 'png', 'gif']);
const TYPE_OF_FORMAT: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif' };

/** An image part being worked on. */
interface ImageWork {
  index: number;
  contentId: string;
  /** Source for re-encodes: the part after conversion and fitting. */
  source: Buffer;
  format: 'jpeg' | 'png' | 'gif';
  width: number;
  /** One frame's height. */
  height: number;
  pages: number;
  hasAlpha: boolean;
  bytes: Buffer;
  type: string;
  exhausted: boolean;
}

interface Encoded {
  bytes: Buffer;
  format: 'jpeg' | 'png' | 'gif';
  width: number;
  height: number;
}

const open = (b: Buffer, animated: boolean): Sharp =>
  sharp(b, { animated, limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true, failOn: 'error' });

/** Encode `src` scaled to fit w x h (per frame), in a format. Metadata (EXIF, GPS) is dropped. */
async function encode(src: Buffer, animated: boolean, w: number, h: number, out: { format: Encoded['format']; quality?: number; colours?: number }): Promise<Encoded> {
  let img = open(src, animated).resize({ width: w, height: h, fit: 'inside', withoutEnlargement: true });
  if (out.format === 'jpeg') img = img.flatten({ background: '#ffffff' }).jpeg({ quality: out.quality ?? 80 });
  else if (out.format === 'png') img = img.png({ palette: out.colours !== undefined, colours: out.colours ?? 256, effort: 4 });
  else img = img.gif({ colours: out.colours ?? 256, effort: 4, interFrameMaxError: 8 });
  const { data, info } = await img.toBuffer({ resolveWithObject: true });
  const frameHeight = animated && info.pageHeight ? info.pageHeight : info.height;
  return { bytes: data, format: out.format, width: info.width, height: frameHeight };
}

/** Fit (w, h) inside the optional maxima, keeping the aspect ratio. */
function fitInside(w: number, h: number, maxW = Infinity, maxH = Infinity): [number, number] {
  const s = Math.min(1, maxW / w, maxH / h);
  return [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
}

/**
 * Adapt a message's parts to an operator's limits. Returns the parts in the same order with the same content
 * ids, and the changes made. Throws AdaptError when the message cannot fit (too much non-image content, or
 * images that cannot shrink enough).
 */
export async function adaptForOperator(parts: readonly AdaptPart[], limits: OperatorLimits): Promise<{ parts: AdaptPart[]; changes: AdaptChange[] }> {
  const overhead = limits.partOverheadBytes ?? PART_OVERHEAD_BYTES;
  const out: AdaptPart[] = parts.map((p) => ({ ...p }));
  const changes: AdaptChange[] = [];
  const images: ImageWork[] = [];

  // Step 1: convert and fit each image.
  for (const [index, part] of out.entries()) {
    if (!mediaTypeOf(part.contentType).startsWith('image/')) continue;
    const work = await normaliseImage(index, part, limits, changes);
    if (!work) continue; // not decodable: passed through unchanged, counted as fixed size
    part.bytes = work.bytes;
    part.contentType = work.type;
    images.push(work);
  }

  // Step 2: shrink the largest images until the message fits.
  const total = (): number => out.reduce((n, p) => n + p.bytes.length + overhead, 0);
  const imageIdx = new Set(images.map((w) => w.index));
  const fixed = out.reduce((n, p, i) => n + (imageIdx.has(i) ? overhead : p.bytes.length + overhead), 0);
  if (total() > limits.maxMessageBytes && fixed >= limits.maxMessageBytes) {
    throw new AdaptError(`message cannot fit ${limits.maxMessageBytes} bytes: ${fixed} bytes of parts that cannot be shrunk (text, SMIL, audio, video, other)`);
  }
  const fairShare = images.length > 0 ? (limits.maxMessageBytes - fixed) / images.length : 0;
  for (let round = 0; total() > limits.maxMessageBytes && round < images.length * 4 + 4; round++) {
    const img = images.filter((w) => !w.exhausted).sort((a, b) => b.bytes.length - a.bytes.length)[0];
    if (!img) break;
    const size = img.bytes.length;
    const excess = total() - limits.maxMessageBytes;
    const target = Math.floor(Math.max(size - excess, Math.min(fairShare, size * 0.9)));
    const fromType = img.type;
    const res = await shrinkImage(img, target);
    if (!res.fits) img.exhausted = true;
    if (res.best && res.best.bytes.length < size) {
      img.bytes = res.best.bytes;
      img.type = TYPE_OF_FORMAT[res.best.format]!;
      img.width = res.best.width;
      img.height = res.best.height;
      out[img.index]!.bytes = img.bytes;
      out[img.index]!.contentType = img.type;
      record(changes, { contentId: img.contentId, action: 'compress', fromType, toType: img.type, fromBytes: size, toBytes: img.bytes.length, width: img.width, height: img.height });
    }
  }
  if (total() > limits.maxMessageBytes) {
    throw new AdaptError(`message is ${total()} bytes after adaptation; the operator takes ${limits.maxMessageBytes}`);
  }
  return { parts: out, changes };
}

/** Add a change; repeated compress steps of one part merge into one record (first from, last to). */
function record(changes: AdaptChange[], c: AdaptChange): void {
  const prev = changes.find((x) => x.contentId === c.contentId && x.action === c.action);
  if (!prev) return void changes.push(c);
  Object.assign(prev, { toType: c.toType, toBytes: c.toBytes, width: c.width, height: c.height });
}

/** Step 1 for one image part: decode, convert to a handset format, fit the maximum dimensions. */
async function normaliseImage(index: number, part: AdaptPart, limits: OperatorLimits, changes: AdaptChange[]): Promise<ImageWork | undefined> {
  // Only raster formats reach the decoder: SVG (external references) and PDF are never rendered.
  if (!DECODABLE.has(sniffContentType(part.bytes) ?? '')) return undefined;
  let meta: Metadata;
  try {
    meta = await open(part.bytes, true).metadata();
  } catch {
    return undefined;
  }
  const pages = meta.pages ?? 1;
  const frameH = meta.pageHeight ?? meta.height;
  // EXIF orientations 5-8 swap the axes (JEITA CP-3451 §4.6.4 Orientation).
  const [w, h] = (meta.orientation ?? 1) >= 5 ? [frameH, meta.width] : [meta.width, frameH];
  const [fw, fh] = fitInside(w, h, limits.maxImageWidth, limits.maxImageHeight);
  const handsetReady = HANDSET_IMAGE_FORMATS.has(meta.format);
  const animated = pages > 1 && (meta.format === 'gif' || meta.format === 'webp');
  const format: ImageWork['format'] = handsetReady ? (meta.format as ImageWork['format']) : animated ? 'gif' : 'jpeg';
  const work: ImageWork = {
    index,
    contentId: part.contentId,
    source: part.bytes,
    format,
    width: w,
    height: h,
    pages: animated ? pages : 1,
    hasAlpha: meta.hasAlpha,
    bytes: part.bytes,
    // The bytes decide the label: a JPEG sent as image/png would reach the handset under a type it fails to decode.
    type: handsetReady && mediaTypeOf(part.contentType) !== TYPE_OF_FORMAT[meta.format] ? TYPE_OF_FORMAT[meta.format]! : part.contentType,
    exhausted: false,
  };
  const needsResize = fw < w || fh < h;
  // An EXIF orientation other than 1 is applied to the pixels (encode auto-orients and drops the tag): many MMS
  // clients ignore EXIF, and a camera's portrait photo would reach them on its side, while a larger one that needed
  // resizing arrived upright.
  const needsOrienting = (meta.orientation ?? 1) > 1;
  // CMYK JPEG (print workflows) is outside what handset decoders take (JFIF is YCbCr or grey); the encode makes sRGB.
  const needsColour = meta.space === 'cmyk';
  if (handsetReady && !needsResize && !needsOrienting && !needsColour) return work;
  let enc: Encoded;
  try {
    enc = await encode(part.bytes, animated, fw, fh, { format, quality: 85 });
  } catch {
    return undefined;
  }
  const toType = TYPE_OF_FORMAT[format]!;
  changes.push({
    contentId: part.contentId,
    action: !handsetReady ? 'convert' : needsResize ? 'resize' : needsColour ? 'convert' : 'orient',
    fromType: mediaTypeOf(part.contentType),
    toType,
    fromBytes: part.bytes.length,
    toBytes: enc.bytes.length,
    width: enc.width,
    height: enc.height,
  });
  return { ...work, source: enc.bytes, bytes: enc.bytes, type: toType, width: enc.width, height: enc.height };
}

/** One attempt in a shrink ladder: output format, scale of the source dimensions, quality or palette size. */
interface Step {
  format: Encoded['format'];
  scale: number;
  quality?: number;
  colours?: number;
  animated: boolean;
}

const JPEG_QUALITIES = [80, 65, 50, 40];

/**
 * Shrink one image to at most `target` bytes. Returns the first encoding that fits, or the smallest one tried
 * (fits = false) when none does.
 */
async function shrinkImage(img: ImageWork, target: number): Promise<{ fits: boolean; best?: Encoded }> {
  let best: Encoded | undefined;
  const attempt = async (s: Step): Promise<Encoded> => {
    const w = Math.max(1, Math.round(img.width * s.scale));
    const h = Math.max(1, Math.round(img.height * s.scale));
    const enc = await encode(img.source, s.animated, w, h, { format: s.format, quality: s.quality, colours: s.colours });
    if (!best || enc.bytes.length < best.bytes.length) best = enc;
    return enc;
  };
  const minScale = MIN_DIMENSION / Math.min(img.width, img.height);

  // Lossless-format ladders first: keep GIF animation / PNG transparency when that can fit.
  const keepFormat: Step[] = [];
  if (img.format === 'gif') {
    for (const [scale, colours] of [[1, 128], [1, 64], [0.75, 64], [0.5, 64], [0.35, 32]] as const) {
      if (scale >= minScale) keepFormat.push({ format: 'gif', scale, colours, animated: img.pages > 1 });
    }
  } else if (img.format === 'png' && img.hasAlpha) {
    for (const [scale, colours] of [[1, 256], [1, 64], [0.75, 64], [0.5, 64], [0.35, 64]] as const) {
      if (scale >= minScale) keepFormat.push({ format: 'png', scale, colours, animated: false });
    }
  }
  for (const s of keepFormat) {
    const enc = await attempt(s);
    if (enc.bytes.length <= target) return { fits: true, best: enc };
  }

  // JPEG: decreasing quality at full size, then decreasing dimensions (PNG/GIF end up here when it is the only way).
  let last = Infinity;
  for (const quality of JPEG_QUALITIES) {
    const enc = await attempt({ format: 'jpeg', scale: 1, quality, animated: false });
    if (enc.bytes.length <= target) return { fits: true, best: enc };
    last = enc.bytes.length;
    // Lower quality alone roughly halves the size at most: past that, go straight to smaller dimensions.
    if (last > target * 2.5) break;
  }
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    // JPEG size grows about with the pixel count: aim at the target, and always make real progress.
    scale *= Math.min(0.9, Math.max(0.3, Math.sqrt(target / last) * 0.95));
    if (scale < minScale) break;
    const enc = await attempt({ format: 'jpeg', scale, quality: 60, animated: false });
    if (enc.bytes.length <= target) return { fits: true, best: enc };
    last = enc.bytes.length;
  }
  return { fits: false, best };
}
