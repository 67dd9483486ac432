/**
 * Text from outside (a gateway's answer, a webhook's body, an endpoint's error message, a URL) made safe to print on a
 * terminal. Whoever sends a delivery report, an MO or an error description chooses its bytes; printed as they are, an
 * ESC or C1 CSI sequence could move the cursor, rewrite earlier lines, change the window title or (on some terminals)
 * answer back as if typed, and a bidirectional override could show text in another order than it is stored.
 */

/**
 * Control characters (C0, DEL, C1), format characters (bidirectional controls, zero-width characters) and the Unicode
 * line and paragraph separators, shown as `\uXXXX` instead of acting. Everything else, other scripts included, is kept.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

function escaped(c: string): string {
  return `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`;
}

/** `value` as text for a terminal, every control and format character escaped (line breaks too: one field, one line). */
export function printable(value: unknown): string {
  return String(value).replace(UNPRINTABLE, escaped);
}

/**
 * JSON for a terminal. JSON.stringify escapes C0 controls only; C1 controls, format characters and U+2028/U+2029 are
 * escaped too. The result parses to the same value.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu, escaped);
}
