/**
 * The small XML layer of the MM7 adapter: safe parsing into a namespace-aware element tree matched on local names,
 * byte decoding (UTF-8, UTF-16, or the declared encoding), and escaping for the builders.
 *
 * Why not fast-xml-parser's removeNSPrefix: responses must echo the request's MM7 namespace, and that option drops
 * the `xmlns` declarations. We keep qualified names and resolve prefixes ourselves; callers match on local names so
 * any prefix style, a default namespace, or no namespace at all is accepted (NOTES quirk 1).
 *
 * Safety: a DOCTYPE (and so any entity declaration) is refused before parsing; entity processing is off and only the
 * five predefined entities and character references are decoded, so nothing can expand. Depth and size are bounded.
 */
import { isUtf8 } from 'node:buffer';
import { XMLParser } from 'fast-xml-parser';

/** One XML element, names resolved. */
export interface XmlElement {
  /** Qualified name as written (`mm7:DeliverReq`). */
  readonly name: string;
  /** Local name (`DeliverReq`): what callers match on. */
  readonly local: string;
  /** Namespace URI in scope for the element's prefix ('' for none). */
  readonly ns: string;
  /** Attributes by qualified name, values entity-decoded. */
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** Concatenated character data directly inside the element (not descendants), entity-decoded, untrimmed. */
  readonly text: string;
}

/** Raised for input that is not acceptable XML (malformed, DOCTYPE, too large or too deep). */
export class Mm7XmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Mm7XmlError';
  }
}

/** Raised for a document over MAX_XML_CHARS, MAX_XML_ELEMENTS or MAX_XML_ATTRIBUTES: refused before it is parsed. */
export class Mm7XmlTooLargeError extends Mm7XmlError {
  constructor(message: string) {
    super(message);
    this.name = 'Mm7XmlTooLargeError';
  }
}

/*
 * Limits on one SOAP document (the envelope only: content travels in the other MIME parts, §9.3). Parsing costs event
 * loop time in proportion to the markup, about 3-4 us per element or attribute (fast-xml-parser and the conversion
 * below): a 1 MiB envelope of empty elements held the loop for 0.9 s, one of attributes for 0.7 s, on every node an
 * MMSC (or, for an operator without credentials or allow-list, anybody) could post to. The largest legitimate
 * envelope is a SubmitReq or DeliverReq with many recipients: 1000 of them, pretty-printed with prefixes and e-mail
 * addresses of 60 characters (`<mm7:To><mm7:RFC2822Address displayOnly="false">...</mm7:RFC2822Address></mm7:To>`),
 * are about 180 KB, 2000 elements and up to 3000 attributes (addressType's displayOnly, addressCoding, id). The limits
 * below leave room above that; the most costly documents they let through (5000 elements, 6000 namespace
 * declarations, 60-deep nesting, 250 KB of entity references) parsed in 15-35 ms (medians on a busy 2-core machine),
 * about what that legitimate envelope of 1000 recipients takes. The counts are checked by a linear scan first.
 */
/** Largest SOAP XML document accepted, characters. */
export const MAX_XML_CHARS = 256 * 1024;
/** Most elements in one document. */
export const MAX_XML_ELEMENTS = 5000;
/** Most attributes (namespace declarations included) in one document. */
export const MAX_XML_ATTRIBUTES = 6000;
/** Deepest element nesting accepted. An MM7 envelope needs under 10 levels. */
export const MAX_XML_DEPTH = 64;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  // Phone numbers stay strings: <Number>0044123</Number> must not become 44123 (NOTES quirk 10).
  parseTagValue: false,
  parseAttributeValue: false,
  // No entity expansion at all; we decode the predefined ones ourselves.
  processEntities: false,
  htmlEntities: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: '#cdata',
  maxNestedTags: MAX_XML_DEPTH,
});

/**
 * Decode the bytes of an XML document to a string. UTF-16 is recognised by its byte order mark or, without one, by
 * the zero bytes around the first `<` (XML 1.0 Appendix F); a document that declares `encoding="utf-16"` but arrives
 * as 8-bit text is read as UTF-8 (NOTES quirk 9: the declaration lies more often than the bytes). Another declared
 * encoding (`ISO-8859-1`, `windows-1252`, ... XML 1.0 §4.3.3) is honoured, so a subject or status text in Latin-1
 * is not turned into U+FFFD, unless the bytes are valid UTF-8 with non-ASCII characters in it: Latin-1 text is
 * practically never that, a UTF-8 document under a stale declaration often is. An encoding TextDecoder does not know
 * is read as UTF-8.
 */
export function decodeXmlBytes(buf: Buffer): string {
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) return buf.subarray(2).toString('utf16le');
  if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) return swap16(buf.subarray(2)).toString('utf16le');
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return buf.subarray(3).toString('utf8');
  if (buf.length >= 4 && buf[0] === 0x3c && buf[1] === 0x00 && buf[2] !== 0x00) return buf.toString('utf16le');
  if (buf.length >= 4 && buf[0] === 0x00 && buf[1] === 0x3c) return swap16(buf).toString('utf16le');
  const declared = declaredEncoding(buf);
  if (declared && !/^(utf-?8|utf-?16(le|be)?|us-ascii|ascii)$/.test(declared) && !(buf.some((b) => b >= 0x80) && isUtf8(buf))) {
    // ISO-8859-1 read as windows-1252, as the WHATWG Encoding standard (and every browser) does: peers that declare
    // Latin-1 write Windows text (curly quotes, dashes in 0x80-0x9F), where Latin-1 has only unused C1 controls.
    if (LATIN1_LABELS.has(declared) || declared === 'windows-1252' || declared === 'cp1252') return decodeWindows1252(buf);
    try {
      return new TextDecoder(declared).decode(buf);
    } catch {
      // not an encoding label TextDecoder knows (WHATWG Encoding): fall through to UTF-8
    }
  }
  return buf.toString('utf8');
}

const LATIN1_LABELS = new Set(['iso-8859-1', 'iso8859-1', 'iso_8859-1', 'latin1', 'l1', 'cp819', 'ibm819', 'iso-ir-100']);

/** windows-1252 at 0x80-0x9F (the rest is ISO-8859-1); undefined slots keep their C1 code point, as WHATWG says. */
const CP1252_HIGH = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/**
 * windows-1252 decoding by hand: Node 20's TextDecoder('windows-1252') decodes 0x80-0x9F as Latin-1 C1 controls,
 * which loses the curly quotes and dashes that this encoding is used for.
 */
function decodeWindows1252(buf: Buffer): string {
  return buf.toString('latin1').replace(/[\u0080-\u009f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!);
}

/** The lower-cased `encoding` of an XML declaration at the start of 8-bit bytes (XML 1.0 §2.8, §4.3.3), if any. */
function declaredEncoding(buf: Buffer): string | undefined {
  const head = buf.subarray(0, 200).toString('latin1');
  const m = /^\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']/.exec(head);
  return m ? m[1]!.toLowerCase() : undefined;
}

function swap16(b: Buffer): Buffer {
  const even = b.length - (b.length % 2);
  const out = Buffer.alloc(even);
  for (let i = 0; i < even; i += 2) {
    out[i] = b[i + 1]!;
    out[i + 1] = b[i]!;
  }
  return out;
}

/** Decode the five predefined XML entities and character references; anything else is left as written. */
export function decodeXmlEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);/g, (all, ref: string) => {
    switch (ref) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
  });
}

/** Escape text for element content and double-quoted attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

type RawNode = Record<string, unknown>;

/**
 * Parse an XML document into its root element. Throws Mm7XmlTooLargeError for input over MAX_XML_CHARS,
 * MAX_XML_ELEMENTS or MAX_XML_ATTRIBUTES (found by a linear scan before the parse), Mm7XmlError for a DOCTYPE (refused
 * outright: no DTD, no entity declarations, no expansion), for nesting over MAX_XML_DEPTH, and when no root element
 * exists.
 */
export function parseXml(text: string): XmlElement {
  if (text.length > MAX_XML_CHARS) throw new Mm7XmlTooLargeError(`XML document over ${MAX_XML_CHARS} characters`);
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new Mm7XmlError('DOCTYPE and entity declarations are not accepted');
  checkMarkupCounts(text);
  let raw: unknown;
  try {
    raw = parser.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new Mm7XmlError(`malformed XML: ${err instanceof Error ? err.message : String(err)}`);
  }
  const nodes = Array.isArray(raw) ? (raw as RawNode[]) : [];
  const rootRaw = nodes.find((n) => elementName(n) !== undefined);
  if (!rootRaw) throw new Mm7XmlError('no XML root element');
  return convert(rootRaw, { declared: new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]), parent: undefined }, 0);
}

/**
 * The parser's own attribute pattern (fast-xml-parser OrderedObjParser `attrsRegx`): every match is one attribute it
 * works on, a name without a value included (it is dropped only after the work, allowBooleanAttributes being off).
 */
const ATTRIBUTE_MATCH = /([^\s=]+)\s*(=\s*(?:"[^"]*"|'[^']*'))?/g;

/**
 * Count what the parser will work on, in one pass that builds nothing, and refuse the document over MAX_XML_ELEMENTS
 * or MAX_XML_ATTRIBUTES. The pass reads the markup as fast-xml-parser does, not as XML 1.0 says, since its work is
 * what is bounded: comments (`<!--` to `-->`) and CDATA sections (`<![` to `]]>`) are skipped whole; an end tag runs
 * to the next `>` and counts against MAX_XML_ELEMENTS on its own (a well-formed document has no more end tags than
 * elements); anything else opening with `<` is an element, `<!name` and processing instructions (`<?name ... ?>`)
 * included, the parser reading both as tags. A tag ends at the first `>` (`?>`) outside quotes, and every match of
 * the parser's attribute pattern after the tag's name (and before an empty-element tag's `/`) is an attribute, with
 * or without `=`. A quote or section left open stops the count: the parser refuses the document at that point.
 */
function checkMarkupCounts(text: string): void {
  const n = text.length;
  let elements = 0;
  let endTags = 0;
  let attributes = 0;
  const tooManyElements = () => new Mm7XmlTooLargeError(`XML document with more than ${MAX_XML_ELEMENTS} elements`);
  let p = text.indexOf('<');
  while (p >= 0 && p < n) {
    const next = text.charCodeAt(p + 1);
    if (next === 0x21 /* ! */ && text.startsWith('--', p + 2)) {
      const end = text.indexOf('-->', p + 4);
      if (end < 0) return;
      p = text.indexOf('<', end + 3);
      continue;
    }
    if (next === 0x21 /* ! */ && text.charCodeAt(p + 2) === 0x5b /* [ */) {
      const end = text.indexOf(']]>', p + 3);
      if (end < 0) return;
      p = text.indexOf('<', end + 3);
      continue;
    }
    if (next === 0x2f /* / */) {
      if (++endTags > MAX_XML_ELEMENTS) throw tooManyElements();
      const end = text.indexOf('>', p + 2);
      if (end < 0) return;
      p = text.indexOf('<', end + 1);
      continue;
    }
    if (++elements > MAX_XML_ELEMENTS) throw tooManyElements();
    const pi = next === 0x3f; /* ? */
    let q = p + 1;
    for (; q < n; q++) {
      const c = text.charCodeAt(q);
      if (c === 0x22 /* " */ || c === 0x27 /* ' */) {
        q = text.indexOf(c === 0x22 ? '"' : "'", q + 1);
        if (q < 0) return;
      } else if (pi ? c === 0x3f && text.charCodeAt(q + 1) === 0x3e : c === 0x3e /* > */) break;
    }
    if (q >= n) return;
    const tag = text.slice(p + 1, q);
    const sep = tag.search(/\s/);
    if (sep >= 0) {
      // The `/` of an empty-element tag is taken off before the attributes are read, as the parser does.
      const rest = tag.endsWith('/') ? tag.slice(sep + 1, -1) : tag.slice(sep + 1);
      ATTRIBUTE_MATCH.lastIndex = 0;
      while (ATTRIBUTE_MATCH.exec(rest) !== null) {
        if (++attributes > MAX_XML_ATTRIBUTES) throw new Mm7XmlTooLargeError(`XML document with more than ${MAX_XML_ATTRIBUTES} attributes`);
      }
    }
    p = text.indexOf('<', q + 1);
  }
}

/**
 * The namespace declarations in scope: each element's own, then its ancestors'. A chain rather than one merged map per
 * element: copying the merged map into every element that declares a namespace made the cost (declarations in scope)
 * x (elements declaring one), so an envelope of 350 KB with 12 000 prefixes on its root and 12 000 children each
 * declaring a default namespace held the event loop (every request of the node) for 45 s.
 */
interface NsScope {
  readonly declared: ReadonlyMap<string, string>;
  readonly parent: NsScope | undefined;
}

/** The namespace URI a prefix ('' for the default namespace) names in `scope`; '' when undeclared. */
function lookupNs(scope: NsScope, prefix: string): string {
  // At most MAX_XML_DEPTH + 1 links: the parser refuses deeper nesting.
  for (let s: NsScope | undefined = scope; s; s = s.parent) {
    const uri = s.declared.get(prefix);
    if (uri !== undefined) return uri;
  }
  return '';
}

function elementName(n: RawNode): string | undefined {
  for (const k of Object.keys(n)) if (k !== ':@' && k !== '#text' && k !== '#cdata') return k;
  return undefined;
}

function convert(n: RawNode, scope: NsScope, depth: number): XmlElement {
  if (depth > MAX_XML_DEPTH) throw new Mm7XmlError('XML nested too deeply');
  const name = elementName(n)!;
  const rawAttrs = (n[':@'] ?? {}) as Record<string, unknown>;
  const attrs: Record<string, string> = {};
  let declared: Map<string, string> | undefined;
  for (const [k, v] of Object.entries(rawAttrs)) {
    const value = decodeXmlEntities(typeof v === 'string' ? v : String(v ?? ''));
    attrs[k] = value;
    if (k === 'xmlns' || k.startsWith('xmlns:')) {
      declared ??= new Map();
      declared.set(k === 'xmlns' ? '' : k.slice(6), value.trim());
    }
  }
  const here: NsScope = declared ? { declared, parent: scope } : scope;
  // Local name after the LAST colon: tolerates a doubled colon as printed in some operator docs ("soap-env::Body").
  const cut = name.lastIndexOf(':');
  const local = cut >= 0 ? name.slice(cut + 1) : name;
  const prefix = cut >= 0 ? name.slice(0, name.indexOf(':')) : '';
  const children: XmlElement[] = [];
  let text = '';
  const kids = Array.isArray(n[name]) ? (n[name] as RawNode[]) : [];
  for (const k of kids) {
    if ('#text' in k) text += decodeXmlEntities(String(k['#text'] ?? ''));
    else if ('#cdata' in k) text += cdataText(k['#cdata']);
    else if (elementName(k) !== undefined) children.push(convert(k, here, depth + 1));
  }
  return { name, local, ns: lookupNs(here, prefix), attrs, children, text };
}

function cdataText(v: unknown): string {
  if (Array.isArray(v)) return v.map((x) => String((x as RawNode)['#text'] ?? '')).join('');
  return String(v ?? '');
}

/** The first child element with this local name (case-sensitive, as XML is), or undefined. */
export function child(el: XmlElement | undefined, local: string): XmlElement | undefined {
  return el?.children.find((c) => c.local === local);
}

/** All child elements with this local name. */
export function childrenNamed(el: XmlElement | undefined, local: string): XmlElement[] {
  return el ? el.children.filter((c) => c.local === local) : [];
}

/** Trimmed text of the first child with this local name; undefined when absent, '' when empty. */
export function childText(el: XmlElement | undefined, local: string): string | undefined {
  const c = child(el, local);
  return c ? c.text.trim() : undefined;
}

/** An attribute by local name, whatever its prefix (`href` and `mm7:href` both match). */
export function attr(el: XmlElement | undefined, local: string): string | undefined {
  if (!el) return undefined;
  if (local in el.attrs) return el.attrs[local];
  for (const [k, v] of Object.entries(el.attrs)) if (k.slice(k.lastIndexOf(':') + 1) === local && !k.startsWith('xmlns')) return v;
  return undefined;
}

/** Depth-first search for the first element with this local name (the element itself included). */
export function findDeep(el: XmlElement, local: string): XmlElement | undefined {
  if (el.local === local) return el;
  for (const c of el.children) {
    const f = findDeep(c, local);
    if (f) return f;
  }
  return undefined;
}

/** An xs:boolean read leniently: true/1 in any case (NOTES quirk 4: "True"); undefined when absent or unreadable. */
export function parseBool(s: string | undefined): boolean | undefined {
  if (s === undefined) return undefined;
  const v = s.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return undefined;
}
