/**
 * Durable local state: a file replaced atomically (old content or new, never a mix) and an
 * append-only JSON-lines journal that survives a kill at any moment.
 */
export { writeFileAtomic } from './atomic-file';
export { Journal } from './journal';
