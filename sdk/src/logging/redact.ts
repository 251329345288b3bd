/**
 * Secret redaction for every log line and error message the SDK writes: SAS signatures,
 * account keys, bearer tokens, passwords in URLs and connection strings. One function,
 * used by the logger and by the service's error mapping.
 */
const patterns: readonly [RegExp, string | ((whole: string, ...groups: string[]) => string)][] = [
  [/([?&]sig=)[^&\s"']+/gi, '$1REDACTED'],
  [/(AccountKey=)[^;\s"']+/gi, '$1REDACTED'],
  [/(SharedAccessSignature=)[^;\s"']+/gi, '$1REDACTED'],
  // Not a short lower-case word: "invalid bearer token" is prose, not a credential.
  [
    /(Bearer\s+)([A-Za-z0-9._~+/=-]+)/gi,
    (whole, prefix, value) => (/^[a-z]{1,19}$/.test(value!) ? whole : `${prefix}REDACTED`),
  ],
  [/(SharedKey\s+[^:\s]+:)[A-Za-z0-9+/=]+/gi, '$1REDACTED'],
  [/(\/\/[^:/\s@]+:)[^@/\s]+@/g, '$1REDACTED@'],
  [/("?(?:password|token|secret|accountKey|key)"?\s*[:=]\s*"?)[^"\s,;}]+/gi, '$1REDACTED'],
];

/** Returns `text` with every recognised secret replaced by `REDACTED`. */
export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of patterns) out = out.replace(pattern, replacement as string);
  return out;
}

/** Known secret values (tokens, keys) that must never be printed, even unrecognised. */
const knownSecrets = new Set<string>();

/** Registers a secret value so that `redactKnown` removes it wherever it appears. */
export function registerSecret(value: string): void {
  if (value.length >= 8) knownSecrets.add(value);
}

/** `redact`, plus removal of every registered secret value. */
export function redactKnown(text: string): string {
  let out = redact(text);
  for (const secret of knownSecrets) out = out.split(secret).join('REDACTED');
  return out;
}
