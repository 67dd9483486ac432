/**
 * Types of the MIME layer: the streaming multipart reader (multipart-reader.ts) and the writer
 * (src/shared/multipart-writer.ts). The reader serves the send API (and the sandbox's MO injection) and MM7 (the
 * MMSC's requests, and the answers to our submissions); the customer client's webhook helpers have a parser of their
 * own (src/client/mime-parse.ts).
 */

/** Limits on a multipart body. Every one is enforced while streaming, before the bytes are buffered. */
export interface MultipartLimits {
  /** Whole body, bytes (default 5 MiB). */
  maxBodyBytes: number;
  /** Number of parts (default 50). */
  maxParts: number;
  /** One part's encoded body, bytes (default 5 MiB). */
  maxPartBytes: number;
  /** One part's header block, bytes (default 8 KiB). */
  maxHeaderBytes: number;
}

export const DEFAULT_MULTIPART_LIMITS: Readonly<MultipartLimits> = Object.freeze({
  maxBodyBytes: 5 * 1024 * 1024,
  maxParts: 50,
  maxPartBytes: 5 * 1024 * 1024,
  maxHeaderBytes: 8 * 1024,
});

export interface MultipartOptions {
  boundary: string;
  limits: MultipartLimits;
  /**
   * Lenient mode (default on for the send API): accept the OpenMarket documentation's examples as printed -
   * no blank line between a part's headers and its body, no closing delimiter ("--b" then EOF), a header starting on
   * the delimiter line ("--bContent-Type: ..."), whitespace after delimiters.
   */
  lenient: boolean;
  /**
   * Keep a part whose body cannot be transfer-decoded (an unknown Content-Transfer-Encoding, base64 with characters
   * outside its alphabet) as the bytes that arrived, with `undecodable` saying why, instead of refusing the whole
   * body. Off by default: the send API refuses such a request. Inbound MM7 sets it, so that one broken attachment does
   * not cost the subscriber the whole MO.
   */
  keepUndecodable?: boolean;
}

/** One decoded part. */
export interface ParsedPart {
  /** Header names lower-cased; values trimmed; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Content-Type value as given (parameters included), default "text/plain" (RFC 2045 §5.2). */
  contentType: string;
  /** Content-Id / Content-ID, RFC 2047 encoded-words decoded, angle brackets and whitespace removed; "" when absent. */
  contentId: string;
  /** Content-Transfer-Encoding lower-cased; "binary" when absent. */
  transferEncoding: string;
  /** The body after transfer decoding (base64 and quoted-printable decoded). */
  body: Buffer;
  /** Size of the body as it arrived (before decoding). */
  encodedSize: number;
  /**
   * Only with MultipartOptions.keepUndecodable: why the body could not be transfer-decoded. `body` is then the bytes
   * as they arrived, still in `transferEncoding`.
   */
  undecodable?: string;
}

/** A parsed Content-Type (or other structured header): lower-cased type and lower-cased parameter names. */
export interface ParsedContentType {
  type: string;
  params: Record<string, string>;
}
