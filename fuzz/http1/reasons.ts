// The known differences between our parser and llhttp, each with its reason; the differential fuzzer
// (compare.ts) accepts a one-sided rejection only if it falls into one of these. src/gateway/http1/README.md
// carries the same list.
//
// STRICTER: ours refuses, llhttp accepts. Matched on our HeadError message (the refusal's text).
// LENIENT: ours accepts, llhttp refuses. Never accepted on the word of a table: compare.ts rewrites the bytes
// llhttp refused into an equivalent it takes (same length, same framing) and the two must then agree exactly.

export interface Stricter {
  category: string;
  /** Matches our refusal reason ("400 obsolete line folding in a header field"). */
  match: RegExp;
  rfc: string;
}

export const STRICTER: Stricter[] = [
  { category: 'obs-fold', match: /obsolete line folding/, rfc: 'RFC 9112 §5.2: a server MUST reject obs-fold with 400 or replace it with SP; we reject' },
  {
    category: 'bare CR or LF',
    match: /bare CR or LF|not ended by CRLF|not followed by CRLF/,
    rfc: 'RFC 9112 §2.2: a lone LF MAY be a line end and a bare CR MUST be refused or replaced; we take CRLF only, so no two readings exist',
  },
  {
    category: 'field name not a token (whitespace before colon, empty, other bytes)',
    match: /invalid header name|empty header name|without a colon/,
    rfc: 'RFC 9112 §5.1: no whitespace between name and colon, a server MUST reject it with 400; RFC 9110 §5.1: a name is a token',
  },
  { category: 'control characters', match: /control character/, rfc: 'RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB; CTLs are invalid (RFC 9112 §3 likewise for the request line)' },
  {
    category: 'Transfer-Encoding with Content-Length',
    match: /both Transfer-Encoding and Content-Length/,
    rfc: 'RFC 9112 §6.1: a server MAY reject a request with both, and MUST NOT forward it as it came; we reject',
  },
  {
    category: 'invalid or conflicting Content-Length',
    match: /Content-Length/,
    rfc: 'RFC 9112 §6.3 (5): an invalid Content-Length makes the framing unrecoverable, the server MUST respond 400',
  },
  {
    category: 'Transfer-Encoding on HTTP/1.0',
    match: /Transfer-Encoding in an HTTP\/1\.0 request/,
    rfc: 'RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding MUST be treated as having faulty framing',
  },
  {
    category: 'transfer codings other than chunked',
    match: /unsupported transfer coding|final transfer coding is not chunked/,
    rfc: 'RFC 9112 §6.1: a coding the server does not understand SHOULD get 501; §6.3 (4): chunked not final on a request is 400',
  },
  { category: 'Host missing or repeated', match: /Host header/, rfc: 'RFC 9112 §3.2: a server MUST respond 400 to more than one Host field line (and to none on HTTP/1.1)' },
  {
    category: 'request line',
    match: /malformed request|HTTP version/,
    rfc: 'RFC 9112 §3: request-line = method SP request-target SP HTTP-version, single SPs; §3.2: no whitespace in the target; §2.3 versions',
  },
  {
    category: 'CONNECT and PRI',
    match: /CONNECT|PRI/,
    rfc: 'RFC 9110 §9.3.6: bytes after a CONNECT head are a tunnel (llhttp stops there), 501; RFC 9113 §3.4: PRI starts the HTTP/2 preface (llhttp reads on), 400',
  },
  {
    category: 'chunk size beyond 12 hex digits',
    match: /invalid chunk size/,
    rfc: 'RFC 9112 §7.1: recipients MUST prevent integer overflow or precision loss in chunk sizes; we take at most 12 hex digits (2^48)',
  },
  {
    category: 'trailer fields',
    match: /trailer/,
    rfc: 'RFC 9112 §7.1.2: a trailer section is field lines, read by the same rules as the head (CRLF, no obs-fold, token names, no CTLs)',
  },
  { category: 'size limits', match: /larger than|too long|too large|more than \d+ header fields/, rfc: 'RFC 9110 §5.4 / RFC 9112 §3: a server MAY bound heads and lines (431, 400)' },
];

/** The stricter category of our refusal reason, or null when it is not one we list. */
export function stricterCategory(reason: string): Stricter | null {
  for (const s of STRICTER) if (s.match.test(reason)) return s;
  return null;
}

export interface Lenient {
  category: string;
  rfc: string;
}

export const LENIENT: Record<string, Lenient> = {
  method: { category: 'methods llhttp does not know', rfc: 'RFC 9110 §9.1: a method is any token; request framing never depends on it (RFC 9112 §6.3)' },
  target: { category: 'request-target bytes llhttp refuses', rfc: 'RFC 9112 §3.2: the target is opaque to framing; ours takes any visible byte and refuses whitespace and CTLs' },
  value: { category: 'obs-text in field values', rfc: 'RFC 9110 §5.5: field-vchar includes obs-text (0x80-0xFF)' },
  'te-ows': { category: 'HTAB after `chunked`', rfc: 'RFC 9112 §5.1: OWS (SP or HTAB) around a field value is not part of it; llhttp refuses chunked<HTAB> (a refusal, so no two framings)' },
  'content-length': { category: 'the same Content-Length repeated', rfc: 'RFC 9110 §8.6: repeated identical values MAY be taken as one' },
  'chunk-size': { category: 'whitespace after the chunk size', rfc: 'RFC 9112 §7.1.1: chunk-ext = *( BWS ";" ... ): BWS before an extension is allowed' },
  trailer: { category: 'Content-Length or Transfer-Encoding in the trailer section', rfc: 'RFC 9110 §6.5.1: framing fields are not trailers; ours discards every trailer field, so it cannot frame' },
  'chunk-ext': { category: 'chunk extension syntax', rfc: 'RFC 9112 §7.1.1: a recipient MUST ignore extensions it does not understand; ours never reads them (CTLs still refused)' },
};
