/**
 * SMIL generation for messages sent without a presentation. Handsets lay out an MMS by its SMIL part (3GPP TS
 * 26.140 §8 / OMA MMS Conformance Document §5: SMIL 2.0 subset, root-layout plus the two regions "Image" and
 * "Text", one `par` per slide holding at most one image or video, one text and one audio). Media is referenced
 * by `cid:` URL (RFC 2392), so content ids must be set on every part before generation and never change later
 * (adaptation keeps them).
 */
import { mediaTypeOf } from './guarded-fetch.ts';

/** A part as SMIL generation needs it. */
export interface SmilPart {
  contentType: string;
  contentId: string;
}

/** Media types of a SMIL presentation part. */
export const SMIL_MEDIA_TYPES: ReadonlySet<string> = new Set(['application/smil', 'application/smil+xml', 'application/vnd.wap.smil']);
/** Text types that are attachments rather than slide text. */
const ATTACHMENT_TEXT = new Set(['text/x-vcard', 'text/vcard', 'text/directory', 'text/calendar', 'text/x-vcalendar']);

/** Slide duration for slides without time-based media (conformance examples use 5 s). */
export const SLIDE_DURATION_MS = 5000;

type Kind = 'visual' | 'text' | 'audio' | 'other';

function kindOf(contentType: string): Kind {
  const t = mediaTypeOf(contentType);
  if (t.startsWith('image/') || t.startsWith('video/')) return 'visual';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('text/') && !ATTACHMENT_TEXT.has(t)) return 'text';
  return 'other';
}

interface Slide {
  /** Position of the slide's first member in the message, for ordering. */
  order: number;
  visual?: number;
  text?: number;
  audio?: number;
  refs: number[];
}

/** `cid:` URL for a content id (RFC 2392 §2: the addr-spec, URL-escaped), escaped for an XML attribute. */
function cidUrl(contentId: string): string {
  const url = 'cid:' + contentId.replace(/[^A-Za-z0-9@.\-_~!$'()*+,;=:]/g, (c) => encodeURIComponent(c));
  return url.replace(/&/g, '&amp;').replace(/'/g, '&apos;');
}

/**
 * Pair each image/video with a text: captions usually sit on one side of their picture throughout a message, so
 * the side is taken from the first visual part (text before it: captions precede; else they follow), and the
 * other side is the fallback. A text is used once.
 */
function pairTexts(kinds: Kind[]): Map<number, number> {
  const visuals = kinds.flatMap((k, i) => (k === 'visual' ? [i] : []));
  const pairs = new Map<number, number>();
  const used = new Set<number>();
  const firstVisual = visuals[0] ?? kinds.length;
  const precedes = kinds.slice(0, firstVisual).includes('text');
  const find = (v: number, dir: 1 | -1): number | undefined => {
    for (let i = v + dir; i >= 0 && i < kinds.length && kinds[i] !== 'visual'; i += dir) {
      if (kinds[i] === 'text' && !used.has(i)) return i;
    }
    return undefined;
  };
  for (const v of visuals) {
    const t = precedes ? (find(v, -1) ?? find(v, 1)) : (find(v, 1) ?? find(v, -1));
    if (t !== undefined) {
      pairs.set(v, t);
      used.add(t);
    }
  }
  return pairs;
}

/** Lay the parts out as slides, in message order. */
function buildSlides(kinds: Kind[]): Slide[] {
  const pairs = pairTexts(kinds);
  const pairedTexts = new Set(pairs.values());
  const slides: Slide[] = [];
  const slideOf = new Map<number, Slide>();
  kinds.forEach((k, i) => {
    if (k === 'visual') {
      const t = pairs.get(i);
      const s: Slide = { order: Math.min(i, t ?? i), visual: i, text: t, refs: [] };
      slides.push(s);
      slideOf.set(i, s);
      if (t !== undefined) slideOf.set(t, s);
    } else if (k === 'text' && !pairedTexts.has(i)) {
      const s: Slide = { order: i, text: i, refs: [] };
      slides.push(s);
      slideOf.set(i, s);
    }
  });
  slides.sort((a, b) => a.order - b.order);
  // Audio joins the slide of the nearest preceding part (or the first slide) unless that slide has audio already.
  kinds.forEach((k, i) => {
    if (k !== 'audio') return;
    let target: Slide | undefined;
    for (let j = i - 1; j >= 0 && !target; j--) target = slideOf.get(j);
    target ??= slides[0];
    if (!target || target.audio !== undefined) {
      target = { order: i, audio: i, refs: [] };
      slides.push(target);
      slides.sort((a, b) => a.order - b.order);
    } else target.audio = i;
    slideOf.set(i, target);
  });
  // Anything else (vCard, ...) is referenced from the last slide so that it is part of the presentation.
  kinds.forEach((k, i) => {
    if (k !== 'other') return;
    if (slides.length === 0) slides.push({ order: i, refs: [] });
    slides[slides.length - 1]!.refs.push(i);
  });
  return slides;
}

/**
 * A SMIL 2.0 presentation (MMS conformance profile) for parts sent without one, or null when a SMIL part is
 * present or there is nothing to present. One slide per image or video with its neighbouring text; text without
 * a picture gets a slide of its own; audio plays with the slide it follows. Throws TypeError when a part has no
 * content id (it could not be referenced).
 */
export function generateSmil(parts: readonly SmilPart[]): string | null {
  if (parts.some((p) => SMIL_MEDIA_TYPES.has(mediaTypeOf(p.contentType)))) return null;
  if (parts.length === 0) return null;
  const missing = parts.findIndex((p) => p.contentId.trim() === '');
  if (missing >= 0) throw new TypeError(`part ${missing} has no content id; SMIL cannot reference it`);
  const kinds = parts.map((p) => kindOf(p.contentType));
  const slides = buildSlides(kinds);

  const src = (i: number): string => cidUrl(parts[i]!.contentId);
  const lines: string[] = [
    '<smil xmlns="http://www.w3.org/2001/SMIL20/Language">',
    '  <head>',
    '    <layout>',
    '      <root-layout width="320" height="480"/>',
    '      <region id="Image" top="0" left="0" width="100%" height="75%" fit="meet"/>',
    '      <region id="Text" top="75%" left="0" width="100%" height="25%" fit="scroll"/>',
    '    </layout>',
    '  </head>',
    '  <body>',
  ];
  for (const s of slides) {
    const timed = s.audio !== undefined || (s.visual !== undefined && mediaTypeOf(parts[s.visual]!.contentType).startsWith('video/'));
    // A slide with audio or video lasts as long as its media (SMIL 2.0 par implicit duration); others get a fixed time.
    lines.push(timed ? '    <par>' : `    <par dur="${SLIDE_DURATION_MS}ms">`);
    if (s.visual !== undefined) {
      const el = mediaTypeOf(parts[s.visual]!.contentType).startsWith('video/') ? 'video' : 'img';
      lines.push(`      <${el} src="${src(s.visual)}" region="Image"/>`);
    }
    if (s.text !== undefined) lines.push(`      <text src="${src(s.text)}" region="Text"/>`);
    if (s.audio !== undefined) lines.push(`      <audio src="${src(s.audio)}"/>`);
    for (const r of s.refs) lines.push(`      <ref src="${src(r)}"/>`);
    lines.push('    </par>');
  }
  lines.push('  </body>', '</smil>', '');
  return lines.join('\n');
}
