/**
 * Decoding of RFC 2047 encoded-words (`=?charset?B|Q?text?=`) in a header value.
 *
 * RFC 2047 §5 does not allow encoded-words in a Content-ID (a msg-id), but Python's email package (the EmailMessage
 * API, policy.default / SMTP / HTTP) writes a Content-Id header that is not plain ASCII, or too long to fold, that way:
 * `Content-Id: <Grüße.jpg>` leaves it as `=?utf-8?b?PEdyw7zDn2UuanBnPg==?=`, the angle brackets inside the encoding.
 * Python's own parser, like most MIME readers, decodes them again; the gateway does the same, so the part keeps the
 * id its sender gave it (and SMIL referring to it still finds it).
 */

/**
 * One encoded-word: charset (with an optional RFC 2231 §5 "*language"), encoding, encoded text; and the white space
 * after it when another encoded-word follows, which RFC 2047 §6.2 says is not part of the value (a long value was
 * folded there).
 */
const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=(?:[ \t\r\n]+(?==\?[^?\s]+\?[BbQq]\?[^?\s]*\?=))?/g;

/**
 * The value with every encoded-word decoded. A value without "=?" is returned as is (the common case, no regex run).
 * An encoded-word in a charset the runtime does not know, or whose bytes are not valid in that charset, is left as it
 * was written rather than guessed at.
 */
export function decodeEncodedWords(value: string): string {
  if (!value.includes('=?')) return value;
  return value.replace(ENCODED_WORD, (word, charset: string, enc: string, text: string) => {
    let decoder: TextDecoder;
    try {
      decoder = new TextDecoder(charset.toLowerCase(), { fatal: true });
    } catch {
      return word;
    }
    const bytes = enc === 'B' || enc === 'b' ? decodeB(text) : decodeQ(text);
    if (bytes === undefined) return word;
    try {
      return decoder.decode(bytes);
    } catch {
      return word;
    }
  });
}

/** The "B" encoding is base64 (RFC 2047 §4.1); undefined when the text is not base64. */
function decodeB(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64');
}

/** The "Q" encoding (RFC 2047 §4.2): "_" is a space, "=XX" one octet, everything else itself. */
function decodeQ(text: string): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) out.push(0x20);
    else if (c === 0x3d) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (c > 0x7e || c < 0x21) return undefined;
    else out.push(c);
  }
  return Buffer.from(out);
}
