/**
 * The one page-token codec of the service's List RPCs. A token is the offset of the next
 * item, opaque to clients (`base64url("o<offset>")`); a token this service did not issue is
 * an INVALID_ARGUMENT naming `page_token`, the same for every list.
 */
import { ValidationError } from '../errors';

/** One page of a listing. */
export interface Page<T> {
  readonly items: T[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

/** Paging options. */
export interface PageOptions {
  /** 1-1000; 0 means the default. @default 100 */
  readonly pageSize?: number;
  /** From the previous page; empty for the first. @default '' */
  readonly pageToken?: string;
}

const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;

/** The token of the page that starts at `offset`. */
export function encodePageToken(offset: number): string {
  return Buffer.from(`o${offset}`).toString('base64url');
}

/** The offset a token stands for (0 for none). Throws a ValidationError naming `page_token`. */
export function decodePageToken(token: string | undefined): number {
  if (!token) return 0;
  const m = /^o(\d{1,15})$/.exec(Buffer.from(token, 'base64url').toString());
  if (!m || encodePageToken(Number(m[1])) !== token) {
    throw new ValidationError('page_token', token, 'is not a token this service issued');
  }
  return Number(m[1]);
}

/** The page of `items` the options ask for. Throws ValidationErrors naming `page_size` or `page_token`. */
export function pageOf<T>(items: readonly T[], options: PageOptions = {}): Page<T> {
  const size = options.pageSize || DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new ValidationError('page_size', size, `must be from 1 to ${MAX_PAGE_SIZE}`);
  }
  const offset = decodePageToken(options.pageToken);
  return {
    items: items.slice(offset, offset + size),
    nextPageToken: offset + size < items.length ? encodePageToken(offset + size) : '',
  };
}
